"""Which earlier decision already settles a new one, so that of two racing (or repeated)
decisions one stands and the other is refused with it (issue 15). Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from app.domain.events import StopReason

# A confirmed report that ends the condition another one reported: after it, the same
# condition reported again is a new decision, not a repeat.
LIFTED_BY = {
    StopReason.IMPRISONMENT: StopReason.RELEASE,
    StopReason.RELEASE: StopReason.IMPRISONMENT,
}


@dataclass(frozen=True, slots=True)
class ConfirmedStop:
    reason: StopReason
    benefit_id: str | None  # None: every benefit of the person
    occurred_on: date


def standing_stop(confirmed: Sequence[ConfirmedStop], new: ConfirmedStop) -> int | None:
    """The index, in ``confirmed`` (a person's confirmed stop reports in the order recorded),
    of the report that already decides ``new``; None when ``new`` decides something anew.

    A report decides ``new`` when it has the same reason, its scope covers the new one's
    (every benefit, or the same benefit), no report that lifts it came after it, and it
    happened on the same day or earlier: the engine stops from the earliest day, so a report of
    a later day would change nothing, while one of an earlier day moves the stop and is kept."""
    current: list[int] = []
    for index, earlier in enumerate(confirmed):
        if earlier.reason is new.reason and earlier.benefit_id in (None, new.benefit_id):
            current.append(index)
        elif LIFTED_BY.get(new.reason) is earlier.reason:
            current = []
    earliest = min(current, key=lambda index: confirmed[index].occurred_on, default=None)
    if earliest is None or confirmed[earliest].occurred_on > new.occurred_on:
        return None
    return earliest
