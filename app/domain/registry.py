"""The registry as it was: the values of the fields that decide a cycle, at an instant, as
known at an instant (docs/policy.md §3, "The cycle follows the registry as it was").

Shanxi 二(一): "供养亲属，按填写的紧急联系人数量确定认证周期" — the cycle is fixed by the emergency
contacts *given*, that is, on record when the person certifies; Hunan 二(一) fixes it by whether
the area has a funeral subsidy. A certification's cycle is decided from the values in force at
its moment, as the service knew them at ``known_at``; a later change of the registry applies
from the next certification and never re-decides months already decided. Plain data, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.domain.enums import BenefitType
from app.domain.events import RegistryFact
from app.domain.policy import Policy


def value_at(
    history: Sequence[RegistryFact], instant: datetime, known_at: datetime | None
) -> RegistryFact | None:
    """The value in force at ``instant`` as known at ``known_at`` (None: everything recorded).

    Of the values recorded by ``known_at``, the one with the latest ``valid_from`` not after
    ``instant`` (a correction recorded later for the same ``valid_from`` wins). An instant
    before every value (a certification older than the registration) gets the earliest one:
    the registry knew nothing before it. Asked before anything was recorded, the first value
    recorded stands for the field. None only for an empty history."""
    if not history:
        return None
    known = [f for f in history if known_at is None or f.recorded_at <= known_at]
    if not known:
        first = min(f.recorded_at for f in history)
        known = [f for f in history if f.recorded_at == first]
    in_force = [f for f in known if f.valid_from <= instant]
    if in_force:
        return max(in_force, key=_order)
    earliest = min(f.valid_from for f in known)
    return max((f for f in known if f.valid_from == earliest), key=_order)


def _order(fact: RegistryFact) -> tuple[datetime, datetime]:
    return (fact.valid_from, fact.recorded_at)


@dataclass(frozen=True, slots=True)
class CycleFacts:
    """One benefit's history of the fields its cycle reads; the current values stand for a
    field with no history (one that never changed)."""

    contacts: tuple[RegistryFact, ...]
    funeral: tuple[RegistryFact, ...]
    emergency_contacts: int
    funeral_subsidy_area: bool | None

    @classmethod
    def of(
        cls,
        registry: Sequence[RegistryFact],
        benefit_id: str,
        emergency_contacts: int,
        funeral_subsidy_area: bool | None,
    ) -> CycleFacts | None:
        """The history for ``benefit_id`` out of its recipient's; None when neither field of it
        ever changed (the current values then decide every cycle)."""
        contacts = tuple(f for f in registry if f.benefit_id is None)
        funeral = tuple(f for f in registry if f.benefit_id == benefit_id)
        if not contacts and not funeral:
            return None
        return cls(contacts, funeral, emergency_contacts, funeral_subsidy_area)

    def values_at(self, instant: datetime, known_at: datetime | None) -> tuple[int, bool | None]:
        """(emergency contacts, funeral-subsidy flag) in force at ``instant``."""
        contacts = value_at(self.contacts, instant, known_at)
        funeral = value_at(self.funeral, instant, known_at)
        return (
            self.emergency_contacts if contacts is None else int(contacts.value or 0),
            self.funeral_subsidy_area if funeral is None else _flag(funeral.value),
        )

    def values_on(
        self, day: date, tz: ZoneInfo, known_at: datetime | None
    ) -> tuple[int, bool | None]:
        """The values in force at the end of ``day`` in the policy's calendar: the ones a
        certification made that day would be decided by at the latest."""
        end = datetime.combine(day + timedelta(days=1), time(0), tz) - timedelta(microseconds=1)
        return self.values_at(end, known_at)

    def cycle_at(
        self,
        policy: Policy,
        benefit_type: BenefitType,
        instant: datetime,
        known_at: datetime | None,
    ) -> int | None:
        """The cycle a certification made at ``instant`` gets."""
        contacts, funeral = self.values_at(instant, known_at)
        return policy.cycle_months(benefit_type, contacts, funeral)


def _flag(value: int | bool | None) -> bool | None:
    return None if value is None else bool(value)
