"""When a new benefit may be approved (待遇核定): a rule, so it lives here and not in a service."""

from __future__ import annotations

from datetime import date

from app.domain.eligibility import Eligibility


def may_approve(as_approved: Eligibility, on: date) -> bool:
    """Whether a benefit may be approved on ``on``, given its answer as if it were approved.

    A benefit whose policy sets no certification cycle (Hunan unemployment: "失业保险疑似丧失待遇
    享受资格人员应按规定进行资格认证", only suspects certify) needs none; any other needs a
    counted certification that is valid on ``on`` (docs/policy.md §2)."""
    if as_approved.cycle_months is None:
        return True
    certified = as_approved.last_certification is not None
    return certified and (as_approved.valid_through is None or as_approved.valid_through >= on)
