"""Which earlier decision already settles a new one, so that of two racing (or repeated)
decisions one stands and the other is refused with it (issue 15). Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.events import StopReason

# A confirmed report that ends the condition another one reported: after it, the same
# condition reported again is a new decision, not a repeat.
LIFTED_BY = {
    StopReason.IMPRISONMENT: StopReason.RELEASE,
    StopReason.RELEASE: StopReason.IMPRISONMENT,
}


def standing_stop(
    confirmed: Sequence[tuple[StopReason, str | None]], reason: StopReason, benefit_id: str | None
) -> int | None:
    """The index, in ``confirmed`` (a person's confirmed stop reports as (reason, benefit_id),
    in the order recorded), of the report that already decides a new confirmed report of
    ``reason`` for ``benefit_id`` (None: every benefit); None when the new one decides anew.

    It is the newest report of the same reason whose scope covers the new one (every benefit,
    or the same benefit), unless a report that lifts it came after it. A death, once confirmed,
    always stands: correcting its date is not a second stop decision."""
    standing: int | None = None
    for index, (earlier, earlier_benefit) in enumerate(confirmed):
        if earlier is reason and earlier_benefit in (None, benefit_id):
            standing = index
        elif standing is not None and LIFTED_BY.get(reason) is earlier:
            standing = None
    return standing
