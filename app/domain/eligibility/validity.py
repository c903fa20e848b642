"""Which certifications count, and the months each one covers (its cycle, and with a registry
history the cycle of the values in force when it was made)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.domain.eligibility.facts import CertificationFact
from app.domain.eligibility.setup import Setup
from app.domain.findings import Findings, month_at
from app.domain.registry import CycleFacts
from app.domain.suspension import Cover


def counted_by_month(
    certifications: tuple[CertificationFact, ...],
    setup: Setup,
    on: date,
    known_at: datetime | None,
    findings: Findings,
) -> dict[int, CertificationFact]:
    """The certifications that count, newest per month (the month is all validity depends on),
    by `Month.index`.

    One made after a confirmed death never counts (the ingest flags it too)."""
    died = None if findings.death is None else findings.death.on
    tz = setup.tz
    channels = setup.channels
    newest: dict[int, CertificationFact] = {}
    for cert in certifications:
        occurred = cert.occurred_at
        if occurred.utcoffset() is None:
            raise ValueError(f"certification {cert.certification_id}: occurred_at is naive")
        if not (cert.counted and cert.channel in channels):
            continue
        local_day = occurred.astimezone(tz).date()
        if local_day > on:
            continue
        if died is not None and local_day > died:
            continue
        if known_at is not None and cert.recorded_at > known_at:
            continue  # not yet recorded at known_at
        if cert.revoked_at is not None and (known_at is None or cert.revoked_at <= known_at):
            continue
        month = local_day.year * 12 + local_day.month - 1
        held = newest.get(month)
        if held is None or _recency(cert) > _recency(held):
            newest[month] = cert
    return newest


def newest_certification(counted: dict[int, CertificationFact]) -> CertificationFact | None:
    """``max(counted.values(), key=_recency, default=None)``, comparing the whole key only when
    the times of occurrence are equal (the first of equal ones wins, as with `max`)."""
    newest = None
    for cert in counted.values():
        if newest is None:
            newest = cert
            continue
        occurred, best = cert.occurred_at, newest.occurred_at
        if occurred > best or (occurred == best and _recency(cert) > _recency(newest)):
            newest = cert
    return newest


def _recency(cert: CertificationFact) -> tuple[datetime, datetime, str]:
    # A total order, so the winner never depends on the order certifications are given in.
    return (cert.occurred_at, cert.recorded_at, cert.certification_id)


class Ends(dict[int, int]):
    """By certification month, the last month covered up to it; each one's own cycle; and the
    newest one's (what ``cycle_months`` reports)."""

    def __init__(self) -> None:
        super().__init__()
        self.cycles: dict[int, int] = {}
        self.newest_cycle = 0


def cycle_ends(
    setup: Setup,
    counted: dict[int, CertificationFact],
    history: CycleFacts | None,
    known_at: datetime | None,
) -> Ends | None:
    """With a registry history: by certification month, the last month covered up to it.

    Each certification gets the cycle of the values in force when it was made (as known at
    ``known_at``), from its own month; a later one with a shorter cycle never ends validity
    that an earlier one gave (no decided month is taken back). None without a history (or
    without a cycle): every certification has the setup's cycle, so the newest decides."""
    cycle = setup.terms.cycle
    if history is None or cycle is None or not counted:
        return None
    policy = setup.policy
    benefit_type = setup.terms.benefit_type
    ends = Ends()
    reach = -1
    for month in sorted(counted):
        own = history.cycle_at(policy, benefit_type, counted[month].occurred_at, known_at)
        ends.newest_cycle = ends.cycles[month] = cycle if own is None else own
        reach = max(reach, month + ends.newest_cycle - 1)
        ends[month] = reach
    return ends


def covered_until(made_in: int | None, cycle: int, ends: Ends | None) -> int | None:
    """The last month covered by the certifications up to the one made in ``made_in``."""
    if made_in is None:
        return None
    return made_in + cycle - 1 if ends is None else ends[made_in]


def coverage(
    counted: dict[int, CertificationFact],
    cycle: int | None,
    ends: Ends | None,
    findings: Findings,
    tz: ZoneInfo,
) -> list[Cover]:
    """Validity by certification month: 从认证当月算起，按月计算 — month m with an N-month cycle
    covers m … m+N−1. A certification made before the agency found the benefit ineligible
    (核实停发) gives no validity after the month the finding takes effect. With a registry
    history (``ends``) each has its own N, and a newer one never covers less than the one
    before it did (`cycle_ends`)."""
    if cycle is None:
        return []
    covers: list[Cover] = []
    stops = findings.stops
    for month in sorted(counted):
        last = month_at(month + (cycle if ends is None else ends.cycles[month]) - 1)
        if stops:
            made_on = counted[month].occurred_at.astimezone(tz).date()
            for stop in stops:
                if stop.resolved_on is not None and made_on <= stop.resolved_on:
                    last = min(last, stop.last_paid)
        if ends is not None and covers and covers[-1].last > last:
            last = covers[-1].last
        covers.append(Cover(month_at(month), last))
    return covers
