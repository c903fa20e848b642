"""Back pay a payment run lists: the point answer's, reconciled against the stored runs.

Hunan 二(七): "经核实符合待遇享受资格的人员，应及时办理待遇恢复和补发". The point answer lists
back pay only in the month the last cause went (docs/policy.md §7.5), so a run made before that day
never sees it, and a month its own run withheld but that turned out payable (a certification
later in the month) is never listed at all. The stored runs are facts: a run for month N lists
every month that an earlier completed run withheld and that is now paid with hindsight, minus
every month an earlier completed run already paid, as its own month's payment or as back pay.
Months are `Month.index` values here; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.findings import month_at
from app.domain.months import Month

__all__ = ["RunLedger", "StoredRuns", "run_back_pay"]


@dataclass(frozen=True, slots=True)
class StoredRuns:
    """The completed runs a run reconciles against: for each earlier month, the newest
    completed run of the same agency scope that was completed by the run's ``known_at``, by
    its ``known_at`` (a benefit registered by then is one of its items)."""

    known_at: Mapping[int, datetime] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.known_at)


@dataclass(slots=True)
class RunLedger:
    """What those runs did with one benefit that was not a plain payment: the months whose own
    run withheld it (or stopped it), and the months some run listed as back pay."""

    withheld: set[int] = field(default_factory=set)
    paid_back: set[int] = field(default_factory=set)


def run_back_pay(
    month: int,
    listed: Iterable[Month],
    ledger: RunLedger | None,
    runs: StoredRuns,
    registered_at: datetime,
    paid_now: Callable[[], Collection[Month]],
) -> tuple[Month, ...]:
    """The months the run for ``month`` lists as back pay, sorted.

    ``listed`` is the point answer's back pay for the month; ``paid_now`` gives the months the
    engine, as known at the run's instant, says are paid in their own month or as back pay (it
    walks every month, so it is asked only when a withheld month is still unpaid). A month
    some stored run paid is never listed again: its own run paid it (the benefit was one of
    that run's items and not withheld) or a run listed it."""
    withheld = ledger.withheld if ledger is not None else set()
    paid_back = ledger.paid_back if ledger is not None else set()
    wanted = {m.index for m in listed}
    unsettled = {k for k in withheld if k < month and k not in paid_back}
    if unsettled:
        wanted |= unsettled & {m.index for m in paid_now()}
    stored = runs.known_at
    return tuple(
        month_at(k)
        for k in sorted(wanted)
        if k not in paid_back
        and not (k in stored and k not in withheld and registered_at <= stored[k])
    )
