from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from app.domain.enums import BenefitType, Channel, ResumptionMode
from app.domain.policy import (
    DEFAULT_POLICY_DIRECTORY,
    Policy,
    PolicyBook,
    PolicyError,
    load_policies,
)

B = BenefitType
SHANXI_TEXT = (DEFAULT_POLICY_DIRECTORY / "shanxi-2026.toml").read_text(encoding="utf-8")
HUNAN_TEXT = (DEFAULT_POLICY_DIRECTORY / "hunan-2026.toml").read_text(encoding="utf-8")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, name: str = "shanxi-2026.toml") -> str:
    path = write(tmp_path, name, text)
    with pytest.raises(PolicyError) as caught:
        load_policies(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


# --- the bundled policies -------------------------------------------------------------------


def test_bundled_policies_load_with_ids_equal_to_file_names(book: PolicyBook) -> None:
    assert sorted(p.id for p in book.policies) == ["hunan-2026", "shanxi-2026"]


def test_bundled_policies_are_dated_by_their_notices(shanxi: Policy, hunan: Policy) -> None:
    assert (shanxi.province, shanxi.effective_from) == ("14", date(2026, 1, 1))
    assert (hunan.province, hunan.effective_from) == ("43", date(2026, 4, 20))
    assert shanxi.timezone == hunan.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("benefit_type", "contacts", "months"),
    [
        (B.WORK_INJURY_DEPENDENT, 2, 12),
        (B.WORK_INJURY_DEPENDENT, 5, 12),
        (B.WORK_INJURY_DEPENDENT, 1, 6),
        (B.WORK_INJURY_DEPENDENT, 0, 3),
        (B.WORK_INJURY_DISABILITY, 0, 12),
        (B.WORK_INJURY_NURSING, 1, 12),
        (B.UNEMPLOYMENT, 0, 12),
        (B.ILLNESS_DISABILITY_ALLOWANCE, 0, 12),
        (B.ENTERPRISE_PENSION, 0, 12),
        (B.INSTITUTION_PENSION, 0, 12),
        (B.RESIDENT_PENSION, 0, 12),
    ],
)
def test_shanxi_cycles(
    shanxi: Policy, benefit_type: BenefitType, contacts: int, months: int
) -> None:
    assert shanxi.cycle_months(benefit_type, contacts, None) == months


@pytest.mark.parametrize(
    ("benefit_type", "funeral_subsidy_area", "months"),
    [
        (B.ENTERPRISE_PENSION, None, 12),
        (B.INSTITUTION_PENSION, None, 12),
        (B.WORK_INJURY_DISABILITY, None, 12),
        (B.WORK_INJURY_NURSING, None, 12),
        (B.ILLNESS_DISABILITY_ALLOWANCE, None, 12),
        (B.WORK_INJURY_DEPENDENT, None, 6),
        (B.RESIDENT_PENSION, True, 12),
        (B.RESIDENT_PENSION, False, 6),
        (B.RESIDENT_PENSION, None, 6),
        (B.UNEMPLOYMENT, None, None),
    ],
)
def test_hunan_cycles(
    hunan: Policy, benefit_type: BenefitType, funeral_subsidy_area: bool | None, months: int | None
) -> None:
    for contacts in (0, 1, 2):
        assert hunan.cycle_months(benefit_type, contacts, funeral_subsidy_area) == months


def test_negative_emergency_contacts_are_refused(shanxi: Policy) -> None:
    with pytest.raises(ValueError):
        shanxi.cycle_months(B.WORK_INJURY_DEPENDENT, -1, None)


def test_only_hunan_accepts_data_matching(shanxi: Policy, hunan: Policy) -> None:
    assert not shanxi.accepts(Channel.DATA_MATCH)
    assert hunan.accepts(Channel.DATA_MATCH)
    for channel in set(Channel) - {Channel.DATA_MATCH}:
        assert shanxi.accepts(channel)
        assert hunan.accepts(channel)


def test_both_provinces_cover_every_benefit_type(shanxi: Policy, hunan: Policy) -> None:
    assert all(shanxi.covers(t) and hunan.covers(t) for t in BenefitType)


def test_shanxi_first_certification_window(shanxi: Policy) -> None:
    for benefit_type in (B.WORK_INJURY_DEPENDENT, B.UNEMPLOYMENT, B.ILLNESS_DISABILITY_ALLOWANCE):
        window = shanxi.window_for(benefit_type)
        assert window.coverage_start == date(2026, 1, 1)
        assert window.first_certification_deadline == date(2026, 4, 30)
        assert window.enforcement_starts == date(2026, 5, 1)


def test_hunan_enforcement_starts_in_june_after_the_april_notice(hunan: Policy) -> None:
    window = hunan.window_for(B.ENTERPRISE_PENSION)
    assert window.coverage_start == date(2026, 4, 20)
    assert window.first_certification_deadline == date(2026, 5, 31)
    assert window.enforcement_starts == date(2026, 6, 1)


def test_reminder_lead_and_stop_report_deadline(shanxi: Policy, hunan: Policy) -> None:
    for policy in (shanxi, hunan):
        assert policy.reminder_lead_months == 1
        assert policy.stop_report_working_days == 20


def test_face_thresholds_are_scores_between_zero_and_one(shanxi: Policy) -> None:
    assert 0 < shanxi.face.min_similarity <= 1
    assert 0 < shanxi.face.min_liveness <= 1


@pytest.mark.parametrize(
    ("benefit_type", "suspended", "since", "flags", "mode"),
    [
        (B.ENTERPRISE_PENSION, 12, 23, {}, ResumptionMode.AUTOMATIC),
        (B.ENTERPRISE_PENSION, 13, 25, {}, ResumptionMode.COMMITMENT_REQUIRED),
        (B.WORK_INJURY_DEPENDENT, 13, 18, {}, ResumptionMode.COMMITMENT_REQUIRED),
        (B.ENTERPRISE_PENSION, 59, 70, {}, ResumptionMode.COMMITMENT_REQUIRED),
        (B.ENTERPRISE_PENSION, 60, 71, {}, ResumptionMode.CONTINUATION_PROCEDURE),
        (
            B.ENTERPRISE_PENSION,
            1,
            12,
            {"agency_verified_stop": True},
            ResumptionMode.CONTINUATION_PROCEDURE,
        ),
        # "暂停待遇1年以上": 以上 includes the number, so 12 months already needs the employer.
        (B.INSTITUTION_PENSION, 11, 23, {}, ResumptionMode.AUTOMATIC),
        (B.INSTITUTION_PENSION, 12, 23, {}, ResumptionMode.EMPLOYER_VERIFICATION),
        (B.INSTITUTION_PENSION, 13, 24, {}, ResumptionMode.EMPLOYER_VERIFICATION),
        (
            B.INSTITUTION_PENSION,
            1,
            12,
            {"suspected_incarceration": True},
            ResumptionMode.EMPLOYER_VERIFICATION,
        ),
    ],
)
def test_hunan_resumption_tiers(
    hunan: Policy,
    benefit_type: BenefitType,
    suspended: int,
    since: int,
    flags: dict[str, bool],
    mode: ResumptionMode,
) -> None:
    found = hunan.resumption_mode(
        benefit_type, months_suspended=suspended, months_since_certification=since, **flags
    )
    assert found is mode


def test_hunan_never_certified_is_not_certifying_again_after_two_years(hunan: Policy) -> None:
    """ "距离上次认证超过2年再次认证的" needs a last certification: a benefit never certified
    meets the one-year and five-year tiers, and the catch-all in between."""

    def mode(suspended: int) -> ResumptionMode:
        return hunan.resumption_mode(
            B.ENTERPRISE_PENSION, months_suspended=suspended, months_since_certification=None
        )

    assert mode(12) is ResumptionMode.AUTOMATIC
    assert mode(13) is ResumptionMode.COMMITMENT_REQUIRED
    assert mode(59) is ResumptionMode.COMMITMENT_REQUIRED
    assert mode(60) is ResumptionMode.CONTINUATION_PROCEDURE


def test_shanxi_always_resumes_automatically_with_back_pay(shanxi: Policy) -> None:
    assert shanxi.resumption.back_pay
    found = shanxi.resumption_mode(
        B.UNEMPLOYMENT, months_suspended=80, months_since_certification=None
    )
    assert found is ResumptionMode.AUTOMATIC


# --- choosing a policy ----------------------------------------------------------------------


def test_agency_code_picks_the_province_by_its_first_two_digits(book: PolicyBook) -> None:
    on = date(2026, 6, 1)
    assert book.for_agency("140402", on) == book.get("shanxi-2026")
    assert book.for_agency("430102", on) == book.get("hunan-2026")
    assert book.for_agency("110105", on) is None
    assert book.covers_agency("1404")
    assert not book.covers_agency("110105")


def test_malformed_agency_code_is_refused(book: PolicyBook) -> None:
    with pytest.raises(ValueError):
        book.for_agency("14040", date(2026, 6, 1))


def test_date_before_the_first_version_gets_the_first_version(book: PolicyBook) -> None:
    assert book.for_agency("430102", date(2026, 1, 1)) == book.get("hunan-2026")


def test_unknown_policy_id_is_a_key_error(book: PolicyBook) -> None:
    with pytest.raises(KeyError):
        book.get("beijing-2026")


def test_later_version_replaces_rules_from_its_date_only(tmp_path: Path) -> None:
    write(tmp_path, "shanxi-2026.toml", SHANXI_TEXT)
    later = SHANXI_TEXT.replace('id = "shanxi-2026"', 'id = "shanxi-2027"').replace(
        "effective_from = 2026-01-01", "effective_from = 2027-01-01"
    )
    write(tmp_path, "shanxi-2027.toml", later)
    book = load_policies(tmp_path)
    assert book.for_agency("140402", date(2026, 12, 31)) == book.get("shanxi-2026")
    assert book.for_agency("140402", date(2027, 1, 1)) == book.get("shanxi-2027")
    assert book.for_agency("140402", date(2030, 1, 1)) == book.get("shanxi-2027")


def test_a_new_province_is_one_new_file(tmp_path: Path) -> None:
    beijing = HUNAN_TEXT.replace('id = "hunan-2026"', 'id = "beijing-2026"').replace(
        'province = "43"', 'province = "11"'
    )
    write(tmp_path, "beijing-2026.toml", beijing)
    book = load_policies(tmp_path)
    policy = book.for_agency("110105", date(2026, 7, 1))
    assert policy is not None
    assert policy.id == "beijing-2026"


# --- bad files ------------------------------------------------------------------------------


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    message = load_error(tmp_path, SHANXI_TEXT.replace("months = 12", "months = ", 1))
    assert "invalid TOML" in message


def test_bad_field_names_the_file_and_the_field_path(tmp_path: Path) -> None:
    text = SHANXI_TEXT.replace(
        "min_emergency_contacts = 2\nmonths = 12", "min_emergency_contacts = 2\nmonths = 0"
    )
    message = load_error(tmp_path, text)
    assert message.endswith("shanxi-2026.toml: cycles.0.months: Input should be greater than 0")


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, SHANXI_TEXT.replace("[face]", "[face]\nmin_blink = 0.5"))
    assert "face.min_blink: Extra inputs are not permitted" in message


def test_unknown_channel_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, SHANXI_TEXT.replace('"home_visit"]', '"carrier_pigeon"]'))
    assert "accepted_channels" in message


def test_id_must_equal_the_file_name(tmp_path: Path) -> None:
    message = load_error(tmp_path, SHANXI_TEXT, name="shanxi.toml")
    assert "id: 'shanxi-2026' must equal the file name 'shanxi'" in message


def test_cycle_rules_must_answer_every_recipient(tmp_path: Path) -> None:
    text = SHANXI_TEXT.replace(
        "max_emergency_contacts = 0\nmonths = 3",
        "max_emergency_contacts = 0\nmonths = 3\nfuneral_subsidy_area = true",
    )
    message = load_error(tmp_path, text)
    assert "cycles: no rule for work_injury_dependent with 0 emergency contacts" in message


def test_cycle_rule_needs_months_or_no_cycle(tmp_path: Path) -> None:
    text = SHANXI_TEXT.replace(
        "max_emergency_contacts = 0\nmonths = 3", "max_emergency_contacts = 0"
    )
    message = load_error(tmp_path, text)
    assert "cycles.2: give either months = N or no_cycle = true" in message


def test_rules_may_only_name_covered_benefit_types(tmp_path: Path) -> None:
    text = SHANXI_TEXT.replace(
        '    "resident_pension",\n    "work_injury_disability",', '    "work_injury_disability",', 1
    )
    message = load_error(tmp_path, text)
    assert message.endswith("cycles.3.benefit_types: resident_pension not in benefit_types")


def test_every_benefit_type_needs_exactly_one_window(tmp_path: Path) -> None:
    text = SHANXI_TEXT.replace(
        'benefit_types = ["enterprise_pension", "institution_pension", "resident_pension"]',
        'benefit_types = ["enterprise_pension", "institution_pension", "unemployment"]',
    )
    message = load_error(tmp_path, text)
    assert "first_certification: " in message
    assert "must be in exactly one window" in message


def test_deadline_must_end_a_month(tmp_path: Path) -> None:
    text = SHANXI_TEXT.replace(
        "first_certification_deadline = 2026-04-30", "first_certification_deadline = 2026-04-15", 1
    )
    message = load_error(tmp_path, text)
    assert "first_certification.0: first_certification_deadline must be the last day" in message


def test_two_files_for_the_same_province_and_date_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "shanxi-2026.toml", SHANXI_TEXT)
    copy = write(
        tmp_path,
        "shanxi-copy.toml",
        SHANXI_TEXT.replace('id = "shanxi-2026"', 'id = "shanxi-copy"'),
    )
    with pytest.raises(PolicyError, match=f"^{re.escape(str(copy))}: effective_from: "):
        load_policies(tmp_path)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no policy files"):
        load_policies(tmp_path)


def test_book_refuses_duplicate_ids(shanxi: Policy) -> None:
    with pytest.raises(ValueError, match="duplicate policy id"):
        PolicyBook([shanxi, shanxi])
