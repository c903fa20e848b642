"""Stored certifications and events as the engine's facts (`app.domain.eligibility`,
`app.domain.events`), the one conversion every reader uses: entities or Core rows by attribute
(the ORM and SQLite's payment runs), asyncpg's plain records by position (PostgreSQL's answers
and payment runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import orjson
from sqlalchemy import Row

from app.db.models import Certification, Moratorium, ResumptionStep, StopReport, VerificationCase
from app.domain.eligibility import CertificationFact
from app.domain.enums import BenefitType, ResumptionMode
from app.domain.events import (
    CaseFact,
    CaseOutcome,
    MoratoriumFact,
    ResumptionStepFact,
    StopEventFact,
    StopReason,
)

if TYPE_CHECKING:
    from app.db.certifications.records import Stored

E = TypeVar("E")

# A stored row read by attribute: its entity (the ORM), or a Core row of the entity's columns
# (SQLite's payment runs), whose attributes mypy checks against the entity's.
EntityOrRow: TypeAlias = E | Row[*tuple[Any, ...]]


def certification_fact(row: EntityOrRow[Certification] | Stored) -> CertificationFact:
    return CertificationFact(
        certification_id=str(row.id),
        channel=row.channel,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        counted=row.counted,
        revoked_at=row.revoked_at,
    )


def stop_fact(row: EntityOrRow[StopReport]) -> StopEventFact:
    return StopEventFact(
        event_id=str(row.id),
        reason=row.reason,
        benefit_id=None if row.benefit_id is None else str(row.benefit_id),
        occurred_on=row.occurred_on,
        recorded_at=row.recorded_at,
        suspected=row.suspected,
        has_documents=bool(row.documents),
    )


def case_fact(row: EntityOrRow[VerificationCase]) -> CaseFact:
    return CaseFact(
        case_id=str(row.id),
        benefit_id=None if row.benefit_id is None else str(row.benefit_id),
        stop_event_id=None if row.stop_report_id is None else str(row.stop_report_id),
        opened_at=row.opened_at,
        outcome=row.outcome,
        effective_on=row.effective_on,
        resolved_at=row.resolved_at,
    )


def step_fact(row: EntityOrRow[ResumptionStep]) -> ResumptionStepFact:
    return ResumptionStepFact(kind=row.kind, on=row.completed_on, recorded_at=row.recorded_at)


def moratorium_fact(row: EntityOrRow[Moratorium]) -> MoratoriumFact:
    return MoratoriumFact(
        moratorium_id=str(row.id),
        agency_prefix=row.agency_code,
        benefit_types=frozenset(BenefitType(value) for value in row.benefit_types),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        created_at=row.created_at,
    )


# --- PostgreSQL's records -------------------------------------------------------------------
# The same conversions for the plain records asyncpg returns (ids as UUIDs or as text, enums
# and JSON as text), columns by position: the eligibility statements' record arrays
# (app/db/facts/postgresql.py) and a payment run's rows (app/db/runs/postgresql.py), which read
# the same columns in the same order, with anything else after them.


def stop_fact_of(s: Sequence[Any]) -> StopEventFact:
    """(id, reason, benefit_id, occurred_on, recorded_at, suspected, documents as JSON text)"""
    return StopEventFact(
        event_id=str(s[0]),
        reason=StopReason(s[1]),
        benefit_id=None if s[2] is None else str(s[2]),
        occurred_on=s[3],
        recorded_at=s[4],
        suspected=s[5],
        has_documents=s[6] is not None and bool(orjson.loads(s[6])),
    )


def case_fact_of(v: Sequence[Any]) -> CaseFact:
    """(id, benefit_id, stop_report_id, opened_at, outcome, effective_on, resolved_at)"""
    return CaseFact(
        case_id=str(v[0]),
        benefit_id=None if v[1] is None else str(v[1]),
        stop_event_id=None if v[2] is None else str(v[2]),
        opened_at=v[3],
        outcome=None if v[4] is None else CaseOutcome(v[4]),
        effective_on=v[5],
        resolved_at=v[6],
    )


def step_fact_of(p: Sequence[Any]) -> ResumptionStepFact:
    """(kind, completed_on, recorded_at)"""
    return ResumptionStepFact(kind=ResumptionMode(p[0]), on=p[1], recorded_at=p[2])


def moratorium_fact_of(m: Sequence[Any]) -> MoratoriumFact:
    """(id, agency_code, benefit_types as JSON text, starts_on, ends_on, created_at)"""
    return MoratoriumFact(
        moratorium_id=str(m[0]),
        agency_prefix=m[1],
        benefit_types=frozenset(BenefitType(value) for value in orjson.loads(m[2])),
        starts_on=m[3],
        ends_on=m[4],
        created_at=m[5],
    )
