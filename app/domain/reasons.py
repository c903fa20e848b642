"""Why a benefit has its status: the vocabulary of `Eligibility.reason` (docs/policy.md §10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.enums import EligibilityStatus, ResumptionMode
from app.domain.events import StopReason


class Reason(StrEnum):
    """Why a benefit has its status; `Eligibility.reason` holds one of these."""

    CERTIFIED = "certified"
    # No certification yet, but the first-certification deadline has not passed.
    FIRST_CERTIFICATION_WINDOW = "first_certification_window"
    # Validity ran out (or the deadline passed) before the payment system starts withholding.
    ENFORCEMENT_NOT_STARTED = "enforcement_not_started"
    OVERDUE = "overdue"
    NEVER_CERTIFIED = "never_certified"
    # An unapproved benefit waits for the certification its approval needs (待遇核定前).
    NOT_CERTIFIED_YET = "not_certified_yet"
    NOT_REQUIRED = "not_required"
    # Stopped (停发): the months after the month of the condition are not owed.
    DECEASED = "deceased"
    RE_EMPLOYMENT = "re_employment"
    STARTED_PENSION = "started_pension"
    ENLISTED = "enlisted"
    EMIGRATED = "emigrated"
    DEPENDENT_NO_LONGER_ELIGIBLE = "dependent_no_longer_eligible"
    # A stop for another reason, or found by the agency's own verification (核实停发).
    STOPPED = "stopped"
    # Suspended while serving a sentence; never paid back.
    INCARCERATED = "incarcerated"
    # Suspended while a suspected loss of eligibility is verified; paid back if it was wrong.
    VERIFICATION_REQUIRED = "verification_required"
    # Certified after a suspension, but the resumption tier's step is still missing.
    COMMITMENT_REQUIRED = "commitment_required"
    EMPLOYER_VERIFICATION = "employer_verification"
    CONTINUATION_PROCEDURE = "continuation_procedure"
    # Overdue, but a moratorium on automatic suspension keeps it payable.
    MORATORIUM = "moratorium"


def stop_reason(reason: StopReason) -> Reason:
    """The reason a confirmed benefit-specific stop shows: its own name, ``stopped`` for other."""
    if reason == StopReason.DEATH:
        return Reason.DECEASED
    if reason == StopReason.IMPRISONMENT:
        return Reason.INCARCERATED
    if reason in (StopReason.OTHER, StopReason.RELEASE):
        return Reason.STOPPED
    return Reason(str(reason))


def step_reason(mode: ResumptionMode) -> Reason:
    """The reason of a benefit certified after a suspension whose tier step is missing."""
    return Reason(str(mode))


@dataclass(frozen=True, slots=True)
class Decision:
    status: EligibilityStatus
    reason: Reason
    payable: bool


_DECISIONS: dict[tuple[EligibilityStatus, Reason, bool], Decision] = {}


def decision(status: EligibilityStatus, reason: Reason, payable: bool) -> Decision:
    """``Decision(status, reason, payable)``, each built once: they are frozen, so equal ones can
    be shared, and the months of a benefit are decided millions of times in a payment run."""
    key = (status, reason, payable)
    found = _DECISIONS.get(key)
    if found is None:
        found = _DECISIONS[key] = Decision(status, reason, payable)
    return found


PENDING_STEP_REASONS = frozenset(
    {Reason.COMMITMENT_REQUIRED, Reason.EMPLOYER_VERIFICATION, Reason.CONTINUATION_PROCEDURE}
)
# Suspended for lack of a certification (or of the step after a late one): what a moratorium
# lifts. Never a stop, an imprisonment or a suspicion.
LACK_OF_CERTIFICATION = frozenset({Reason.OVERDUE, Reason.NEVER_CERTIFIED} | PENDING_STEP_REASONS)
