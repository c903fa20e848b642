"""A province's certification policy, as data.

Each notice becomes one TOML file in ``app/policies/`` (schema and sources: docs/policy.md). A new
province, or a new version of a province's rules, is a new file, never a code change: versions of
one province are told apart by ``effective_from`` and each file is complete on its own.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from app.domain.enums import BenefitType, Channel, ResumptionMode
from app.domain.policy_rules import (
    FROZEN,
    BenefitTypes,
    Count,
    CycleRule,
    DataMatchRules,
    FaceThresholds,
    FirstCertificationWindow,
    ManualModeRule,
    ResumptionRules,
)

DEFAULT_POLICY_DIRECTORY = Path(__file__).resolve().parent.parent / "policies"


class PolicyError(Exception):
    """A policy file that cannot be used; the message is one line: ``file: field path: problem``."""


class Policy(BaseModel):
    """One version of one province's rules, in force from ``effective_from``."""

    model_config = FROZEN

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    province: str = Field(pattern=r"^\d{2}$")
    name: str = Field(min_length=1)
    effective_from: date
    timezone: str = "Asia/Shanghai"
    benefit_types: BenefitTypes
    accepted_channels: Annotated[frozenset[Channel], Field(min_length=1)]
    face: FaceThresholds
    data_match: DataMatchRules | None = None  # required when data_match is accepted
    manual_modes: tuple[ManualModeRule, ...] = ()  # modes open to every residence are not listed
    reminder_lead_months: Count
    stop_report_working_days: Annotated[int, Field(gt=0)]
    cycles: tuple[CycleRule, ...] = Field(min_length=1)
    first_certification: tuple[FirstCertificationWindow, ...] = Field(min_length=1)
    resumption: ResumptionRules

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, key: str) -> str:
        try:
            ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {key!r}") from exc
        return key

    @model_validator(mode="after")
    def _complete(self) -> Self:
        sections: list[tuple[str, Iterable[BenefitType]]] = [
            *((f"cycles.{i}", rule.benefit_types) for i, rule in enumerate(self.cycles)),
            *(
                (f"first_certification.{i}", window.benefit_types)
                for i, window in enumerate(self.first_certification)
            ),
            *(
                (f"resumption.tiers.{i}", tier.benefit_types or ())
                for i, tier in enumerate(self.resumption.tiers)
            ),
        ]
        for where, types in sections:
            stray = ", ".join(sorted(set(types) - self.benefit_types))
            if stray:
                raise ValueError(f"{where}.benefit_types: {stray} not in benefit_types")
        for benefit_type in sorted(self.benefit_types):
            windows = [w for w in self.first_certification if benefit_type in w.benefit_types]
            if len(windows) != 1:
                raise ValueError(
                    f"first_certification: {benefit_type} must be in exactly one window,"
                    f" found {len(windows)}"
                )
            self._check_cycle_rules_cover(benefit_type)
        if Channel.DATA_MATCH in self.accepted_channels and self.data_match is None:
            raise ValueError("data_match: required when accepted_channels has data_match")
        modes = [rule.mode for rule in self.manual_modes]
        if len(set(modes)) != len(modes):
            raise ValueError("manual_modes: a mode is listed twice")
        return self

    def _check_cycle_rules_cover(self, benefit_type: BenefitType) -> None:
        # Conditions are thresholds, so one count above the highest bound stands for all larger
        # counts and this finite check proves every recipient gets an answer.
        bounds = [
            bound
            for rule in self.cycles
            for bound in (rule.min_emergency_contacts, rule.max_emergency_contacts)
            if bound is not None
        ]
        for contacts in range(max(bounds, default=0) + 2):
            for funeral in (True, False, None):
                if not any(r.matches(benefit_type, contacts, funeral) for r in self.cycles):
                    raise ValueError(
                        f"cycles: no rule for {benefit_type} with {contacts} emergency contacts"
                        f" and funeral_subsidy_area={funeral}"
                    )

    @property
    def tz(self) -> ZoneInfo:
        """The zone whose calendar decides which month a certification falls in."""
        return ZoneInfo(self.timezone)

    def covers(self, benefit_type: BenefitType) -> bool:
        return benefit_type in self.benefit_types

    def accepts(self, channel: Channel) -> bool:
        return channel in self.accepted_channels

    def cycle_months(
        self, benefit_type: BenefitType, emergency_contacts: int, funeral_subsidy_area: bool | None
    ) -> int | None:
        """Months one certification covers; None means no cycle (certification not required)."""
        self._require_covered(benefit_type)
        if emergency_contacts < 0:
            raise ValueError("emergency_contacts cannot be negative")
        rule = next(
            r
            for r in self.cycles
            if r.matches(benefit_type, emergency_contacts, funeral_subsidy_area)
        )
        return rule.months

    def window_for(self, benefit_type: BenefitType) -> FirstCertificationWindow:
        self._require_covered(benefit_type)
        return next(w for w in self.first_certification if benefit_type in w.benefit_types)

    def resumption_mode(
        self,
        benefit_type: BenefitType,
        *,
        months_suspended: int,
        months_since_certification: int | None,
        agency_verified_stop: bool = False,
        suspected_incarceration: bool = False,
    ) -> ResumptionMode:
        """The most demanding of the conditional resumption tiers that apply, else the last,
        unconditional one (None months since = never certified): docs/policy.md §7.4."""
        self._require_covered(benefit_type)
        facts = (
            benefit_type,
            months_suspended,
            months_since_certification,
            agency_verified_stop,
            suspected_incarceration,
        )
        *conditional, fallback = self.resumption.tiers
        met = [tier.mode for tier in conditional if tier.matches(*facts)]
        return max(met, key=lambda mode: mode.demand) if met else fallback.mode

    def _require_covered(self, benefit_type: BenefitType) -> None:
        if not self.covers(benefit_type):
            raise ValueError(f"policy {self.id} does not cover {benefit_type}")


class PolicyBook:
    """Every loaded policy, looked up by id or by paying agency and date."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        ordered = sorted(policies, key=lambda p: (p.province, p.effective_from))
        self._by_id: dict[str, Policy] = {}
        self._versions: dict[tuple[str, date], Policy] = {}
        for policy in ordered:
            version = (policy.province, policy.effective_from)
            if policy.id in self._by_id:
                raise ValueError(f"duplicate policy id {policy.id!r}")
            if version in self._versions:
                raise ValueError(f"{policy.id} and {self._versions[version].id} share a version")
            self._by_id[policy.id] = policy
            self._versions[version] = policy
        self.policies: tuple[Policy, ...] = tuple(ordered)

    def get(self, policy_id: str) -> Policy:
        """The policy with this id; KeyError when there is none."""
        return self._by_id[policy_id]

    def covers_agency(self, agency_code: str) -> bool:
        province = _province_of(agency_code)
        return any(p.province == province for p in self.policies)

    def for_agency(self, agency_code: str, on: date) -> Policy | None:
        """The version in force on ``on`` for the agency's province (first two digits).

        A date before the province's first version gets that first version: facts from before
        the first notice still need rules, and its own enforcement dates keep anyone from being
        withheld before the notice took effect. None when no policy covers the province.
        """
        province = _province_of(agency_code)
        versions = [p for p in self.policies if p.province == province]
        if not versions:
            return None
        in_force = [p for p in versions if p.effective_from <= on]
        return in_force[-1] if in_force else versions[0]


def load_policies(directory: Path | None = None) -> PolicyBook:
    """Read every ``*.toml`` in ``directory`` (default: app/policies); PolicyError if any is bad."""
    directory = DEFAULT_POLICY_DIRECTORY if directory is None else directory
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise PolicyError(f"{_shown(directory)}: no policy files (*.toml)")
    # Ids equal file names, so they are unique; two files may still claim the same version.
    loaded: dict[tuple[str, date], Path] = {}
    policies: list[Policy] = []
    for path in paths:
        policy = _load_file(path)
        version = (policy.province, policy.effective_from)
        if version in loaded:
            raise PolicyError(
                f"{_shown(path)}: effective_from: {_shown(loaded[version])} already starts"
                f" province {policy.province} on {policy.effective_from}"
            )
        loaded[version] = path
        policies.append(policy)
    return PolicyBook(policies)


def _load_file(path: Path) -> Policy:
    shown = _shown(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{shown}: invalid TOML: {_one_line(str(exc))}") from exc
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"])
        message = _one_line(first["msg"].removeprefix("Value error, "))
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PolicyError(f"{shown}: {where + ': ' if where else ''}{message}{more}") from exc
    if policy.id != path.stem:
        raise PolicyError(f"{shown}: id: {policy.id!r} must equal the file name {path.stem!r}")
    return policy


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _province_of(agency_code: str) -> str:
    if not (agency_code.isascii() and agency_code.isdigit() and len(agency_code) in (2, 4, 6)):
        raise ValueError(f"not a division code: {agency_code!r}")
    return agency_code[:2]
