"""The shapes a payment run's data travels in between the data layer and the decider:
column tuples read (a million rows stay cheap as tuples), a chunk of whole recipients with
their facts, and the typed item rows stored. Both run sources (app/db/runs/portable.py,
app/db/runs/postgresql.py) produce and consume exactly these."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

from app.domain.events import CaseFact, RegistryFact, ResumptionStepFact, StopEventFact
from app.domain.regions import prefix_bounds
from app.domain.run_back_pay import RunLedger

# The order the columns are read in; tuples keep a million rows cheap.
# (recipient_id, benefit_id, benefit_type, agency_code, start_date, approved, external_ref,
#  funeral_subsidy_area, created_at), ordered by recipient, then by registration (created_at, id).
BenefitRow = tuple[str, str, str, str, date, bool, str | None, bool | None, datetime]
# (residence, emergency_contacts) by recipient id.
RecipientRow = tuple[str, int]
# (recipient_id, certification_id, channel, occurred_at, recorded_at, revoked_at): counted only.
CertificationRow = tuple[str, str, str, datetime, datetime, datetime | None]

ITEM_FIELDS: Final = (
    "seq",
    "benefit_id",
    "recipient_id",
    "external_ref",
    "agency_code",
    "payable",
    "status",
    "reason",
    "back_pay_months",
    "overpaid_months",
    "policy_id",
    "valid_through",
    "last_record_at",
)


@dataclass
class Chunk:
    """Consecutive recipients of a run with everything their decisions read. Every benefit
    row is in the run's scope and was registered by its ``known_at``."""

    benefits: Sequence[BenefitRow]
    recipients: Mapping[str, RecipientRow]
    certifications: Iterable[CertificationRow] = ()
    stops: Iterable[tuple[str, StopEventFact]] = ()
    cases: Iterable[tuple[str, CaseFact]] = ()
    steps: Iterable[tuple[str, ResumptionStepFact]] = ()
    # Registry values deciding cycles, of recipients with any change (docs/policy.md §3).
    registry: Iterable[tuple[str, RegistryFact]] = ()
    # By benefit id: what the stored runs withheld or paid back (only benefits with any).
    ledgers: Mapping[str, RunLedger] = field(default_factory=dict)


# A decided item as a typed row of payment_run_items, in `ITEM_COLUMNS` order; the month lists
# as JSON text. Made from the same values as its line.
ItemRecord = tuple[
    uuid.UUID, int, str, str, str | None, str, bool, str, str, str, str, str, date | None,
    datetime | None,
]  # fmt: skip
ITEM_COLUMNS: Final = ("run_id", *ITEM_FIELDS)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a run reads: benefits of an agency prefix registered by ``known_at``."""

    prefix: str
    known_at: datetime

    def bounds(self) -> tuple[str, str, datetime]:
        low, high = prefix_bounds(self.prefix)
        return low, high, self.known_at
