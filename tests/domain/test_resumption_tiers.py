"""Hunan 二(五) when several resumption tiers match: the most demanding route applies, by rule.

"暂停待遇1年（含）内完成认证的，可自动办理待遇恢复和补发。距离上次认证超过2年再次认证的，完成告知承诺后可自动
办理待遇恢复和补发。超过5年（含）以上及社保经办机构核实停发的人员，需通过续发程序恢复待遇。……机关事业单位养老
保险待遇享受人员暂停待遇1年以上或存在服刑疑点数据的，需由单位核实待遇享受资格后办理待遇恢复及相应业务。"

Each sentence adds a condition; none says it yields to another, so a recipient who meets two
must satisfy the heavier: continuation > employer verification > commitment > automatic.
"""

from __future__ import annotations

import itertools
import random

import pytest

from app.domain.enums import BenefitType, EligibilityStatus, ResumptionMode
from app.domain.policy import Policy
from tests.domain.timeline import HUNAN, benefit, cert, evaluate

B = BenefitType
R = ResumptionMode


def _mode(
    benefit_type: BenefitType,
    suspended: int,
    since: int | None,
    *,
    agency: bool = False,
    incarceration: bool = False,
    policy: Policy = HUNAN,
) -> ResumptionMode:
    return policy.resumption_mode(
        benefit_type,
        months_suspended=suspended,
        months_since_certification=since,
        agency_verified_stop=agency,
        suspected_incarceration=incarceration,
    )


def test_certifying_again_after_two_years_needs_the_commitment_within_a_year_of_it() -> None:
    """Last certified 2024-03-10, Hunan's enforcement suspends the benefit from 2026-06, certified
    again 2026-10-05: 4 months suspended ("1年（含）内" → automatic) but 31 months since the last
    certification ("超过2年" → commitment): the commitment applies, with no back pay until it."""
    pension = benefit(B.ENTERPRISE_PENSION, HUNAN)
    certs = [cert("2024-03-10"), cert("2026-10-05")]
    waiting = evaluate(pension, "2026-10-05", certs)
    assert (waiting.status, waiting.reason, waiting.payable) == (
        EligibilityStatus.SUSPENDED,
        "commitment_required",
        False,
    )
    assert waiting.resumption is R.COMMITMENT_REQUIRED
    assert waiting.back_pay_months == ()


@pytest.mark.parametrize(
    ("case", "benefit_type", "suspended", "since", "flags", "expected"),
    [
        ("automatic + commitment", B.ENTERPRISE_PENSION, 4, 31, {}, R.COMMITMENT_REQUIRED),
        (
            "automatic + employer (12 months)",
            B.INSTITUTION_PENSION, 12, 13, {}, R.EMPLOYER_VERIFICATION,
        ),
        (
            "automatic + employer (incarceration)",
            B.INSTITUTION_PENSION, 3, 10, {"incarceration": True}, R.EMPLOYER_VERIFICATION,
        ),
        (
            "automatic + continuation (agency stop)",
            B.ENTERPRISE_PENSION, 2, 10, {"agency": True}, R.CONTINUATION_PROCEDURE,
        ),
        ("commitment + continuation", B.ENTERPRISE_PENSION, 60, 70, {}, R.CONTINUATION_PROCEDURE),
        ("employer + commitment", B.INSTITUTION_PENSION, 13, 30, {}, R.EMPLOYER_VERIFICATION),
        ("employer + continuation", B.INSTITUTION_PENSION, 61, 70, {}, R.CONTINUATION_PROCEDURE),
        (
            "automatic + employer + commitment + continuation",
            B.INSTITUTION_PENSION, 5, 40, {"agency": True, "incarceration": True},
            R.CONTINUATION_PROCEDURE,
        ),
    ],
)  # fmt: skip
def test_every_pair_of_overlapping_tiers_gives_the_more_demanding_route(
    case: str,
    benefit_type: BenefitType,
    suspended: int,
    since: int,
    flags: dict[str, bool],
    expected: ResumptionMode,
) -> None:
    found = _mode(
        benefit_type,
        suspended,
        since,
        agency=flags.get("agency", False),
        incarceration=flags.get("incarceration", False),
    )
    assert found is expected, case


def _grid() -> list[tuple[BenefitType, int, int | None, bool, bool]]:
    types = (B.ENTERPRISE_PENSION, B.INSTITUTION_PENSION, B.WORK_INJURY_DEPENDENT)
    suspended = (0, 1, 11, 12, 13, 24, 59, 60, 61, 90)
    since = (None, 0, 12, 23, 24, 25, 60)
    return list(itertools.product(types, suspended, since, (False, True), (False, True)))


def test_the_route_does_not_depend_on_the_order_of_the_tiers_in_the_policy_file() -> None:
    """The same answers, on every combination of limits and flags, with the conditional tiers
    shuffled (the unconditional catch-all stays last, as the policy loader requires)."""
    *conditional, fallback = HUNAN.resumption.tiers
    answers = {
        facts: _mode(*facts[:3], agency=facts[3], incarceration=facts[4]) for facts in _grid()
    }
    shuffler = random.Random(20261206)
    for _ in range(5):
        order = conditional[:]
        shuffler.shuffle(order)
        rules = HUNAN.resumption.model_copy(update={"tiers": (*order, fallback)})
        shuffled = HUNAN.model_copy(update={"resumption": rules})
        for facts, mode in answers.items():
            assert (
                _mode(*facts[:3], agency=facts[3], incarceration=facts[4], policy=shuffled) is mode
            )


def test_a_conditional_match_always_beats_the_catch_all() -> None:
    """The catch-all ("suspended over a year, certified within two") is for when no sentence of
    the notice applies: within a year it never turns an automatic return into a commitment."""
    assert _mode(B.ENTERPRISE_PENSION, 12, 6) is R.AUTOMATIC
    assert _mode(B.ENTERPRISE_PENSION, 13, 6) is R.COMMITMENT_REQUIRED
