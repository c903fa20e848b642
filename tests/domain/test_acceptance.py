"""The acceptance rules of a certification (app/domain/acceptance.py), on plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from app.domain.acceptance import (
    Claim,
    Judgement,
    Proof,
    Refusal,
    TimeWindow,
    accepting_policies,
    after_recorded_death,
    channel_refusal,
    documents_refusal,
    evidence_instant,
    judge,
    manual_mode_outside_residence,
    proven_at,
    province_wide,
    recorded_death,
)
from app.domain.enums import CertificationResult, Channel, ManualMode, Residence, Role
from app.domain.events import CaseFact, CaseOutcome, StopEventFact, StopReason
from app.domain.policy import Policy

BEIJING = ZoneInfo("Asia/Shanghai")
PASSED, FAILED = CertificationResult.PASSED, CertificationResult.FAILED
AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def face(similarity: float, liveness: float, result: CertificationResult = PASSED) -> Claim:
    return Claim(Channel.FACE, result, AT, similarity=similarity, liveness=liveness)


def manual(mode: ManualMode, *refs: str) -> Claim:
    return Claim(Channel.MANUAL, PASSED, AT, manual_mode=mode, document_refs=refs)


def stop(event_id: str, reason: StopReason, on: date, *, suspected: bool = False) -> StopEventFact:
    return StopEventFact(event_id, reason, None, on, AT, suspected, False)


def test_each_role_posts_only_its_own_channels() -> None:
    """A county client posts manual certifications (forbidden_role for face); a mobile
    backend face (not manual); an admin anything; the payment system nothing."""
    assert channel_refusal(Role.COUNTY, Channel.MANUAL) is None
    assert channel_refusal(Role.MOBILE, Channel.FACE) is None
    assert channel_refusal(Role.ADMIN, Channel.DATA_MATCH) is None
    refusal = channel_refusal(Role.MOBILE, Channel.MANUAL)
    assert refusal == Refusal(
        "forbidden_role", "the mobile role may not post manual certifications", forbidden=True
    )
    assert channel_refusal(Role.PAYMENT, Channel.FACE) is not None
    assert province_wide(Role.COUNTY) and not province_wide(Role.DATA_EXCHANGE)


def test_the_window_refuses_the_future_beyond_drift_and_the_too_old() -> None:
    """Around 2026-03-10T12:00Z with 365 days back: 12:05 (drift) and 2025-03-10T12:00Z
    (the limit itself) pass; 12:05:01 is in the future, 2025-03-10T11:59:59Z too old."""
    window = TimeWindow.around(AT, 365)
    assert window.refusal(datetime(2026, 3, 10, 12, 5, tzinfo=UTC)) is None
    assert window.refusal(datetime(2025, 3, 10, 12, 0, tzinfo=UTC)) is None
    future = window.refusal(datetime(2026, 3, 10, 12, 5, 1, tzinfo=UTC))
    assert future is not None and future.code == "occurred_in_future"
    old = window.refusal(datetime(2025, 3, 10, 11, 59, 59, tzinfo=UTC))
    assert old == Refusal("too_old", "occurred_at is more than 365 days ago")


def test_a_channel_no_governing_policy_accepts_is_refused(shanxi: Policy, hunan: Policy) -> None:
    """Shanxi takes no data match, Hunan does: a recipient paid under both (on 2026-03-10) may
    be certified by one, judged by Hunan's rules alone; one paid by Shanxi only may not."""
    assert accepting_policies([shanxi, hunan, shanxi], Channel.DATA_MATCH) == [hunan]
    assert accepting_policies([shanxi, hunan], Channel.FACE) == [shanxi, hunan]
    refusal = accepting_policies([shanxi, shanxi], Channel.DATA_MATCH)
    assert refusal == Refusal(
        "channel_not_accepted", "shanxi-2026 does not accept data_match certifications"
    )


def test_a_passed_face_below_the_strictest_threshold_is_stored_failed(shanxi: Policy) -> None:
    """A face taken 2026-03-10 scoring 0.79 similarity under Shanxi's 0.80 is failed with a
    warning whatever the client said; at 0.80/0.90 it counts; a failed one stays failed."""
    assert judge(face(0.79, 0.95), Residence.IN_PROVINCE, [shanxi]) == Judgement(
        False, FAILED, ("below_threshold",)
    )
    assert judge(face(0.80, 0.90), Residence.IN_PROVINCE, [shanxi]) == Judgement(True, PASSED, ())
    assert judge(face(0.99, 0.99, FAILED), Residence.IN_PROVINCE, [shanxi]) == Judgement(
        False, FAILED, ()
    )


def test_consular_app_for_someone_registered_at_home_warns(shanxi: Policy) -> None:
    """A consular-app certification on 2026-03-10 of a recipient registered in the province
    still counts, with residence_mismatch (the registry may be out of date)."""
    claim = Claim(Channel.CONSULAR_APP, PASSED, AT, similarity=0.9, liveness=0.95)
    assert judge(claim, Residence.IN_PROVINCE, [shanxi]) == Judgement(
        True, PASSED, ("residence_mismatch",)
    )
    assert judge(claim, Residence.OVERSEAS, [shanxi]) == Judgement(True, PASSED, ())


def test_a_manual_mode_outside_its_residences_is_refused_where_a_policy_says_so(
    shanxi: Policy, hunan: Policy
) -> None:
    """On 2026-03-10 Shanxi refuses an out-of-province online review for a recipient living
    in the province (manual_mode_residence); Hunan only warns; out of province it is fine.
    The strictest accepting policy wins."""
    online = manual(ManualMode.OUT_OF_PROVINCE_ONLINE)
    refusal = judge(online, Residence.IN_PROVINCE, [shanxi])
    assert isinstance(refusal, Refusal) and refusal.code == "manual_mode_residence"
    assert "living in province" in refusal.detail
    assert judge(online, Residence.IN_PROVINCE, [hunan]) == Judgement(
        True, PASSED, ("residence_mismatch",)
    )
    assert isinstance(judge(online, Residence.IN_PROVINCE, [hunan, shanxi]), Refusal)
    assert judge(online, Residence.OUT_OF_PROVINCE, [shanxi]) == Judgement(True, PASSED, ())
    # The embassy form is proof of life abroad: for anyone else only a warning, in Shanxi too.
    form = ManualMode.OVERSEAS_EMBASSY_FORM
    assert manual_mode_outside_residence(form, Residence.IN_PROVINCE, [shanxi]) is True
    assert manual_mode_outside_residence(form, Residence.OVERSEAS, [shanxi]) is False
    # A mode no rule names serves every residence.
    assert manual_mode_outside_residence(ManualMode.WINDOW, Residence.OVERSEAS, [shanxi]) is False


def test_a_data_match_counts_from_its_evidence_date(hunan: Policy) -> None:
    """Matched 2026-03-10 (Beijing) on evidence of 2026-02-20, recorded 2026-03-10: counts from
    2026-02-20T00:00+08:00, with counted_from_evidence_date; evidence of 2026-01-31 is more
    than Hunan's one month old; evidence of 2026-03-11 is after the match."""

    def match(evidence: date) -> Claim:
        return Claim(Channel.DATA_MATCH, PASSED, AT, evidence_date=evidence)

    recorded = date(2026, 3, 10)
    assert proven_at(match(date(2026, 2, 20)), recorded, [hunan], BEIJING) == Proof(
        datetime(2026, 2, 20, tzinfo=BEIJING), ("counted_from_evidence_date",)
    )
    assert proven_at(match(date(2026, 3, 10)), recorded, [hunan], BEIJING) == Proof(AT, ())
    old = proven_at(match(date(2026, 1, 31)), recorded, [hunan], BEIJING)
    assert isinstance(old, Refusal) and old.code == "evidence_too_old"
    after = proven_at(match(date(2026, 3, 11)), recorded, [hunan], BEIJING)
    assert isinstance(after, Refusal) and after.code == "evidence_after_match"
    assert proven_at(face(0.9, 0.9), recorded, [hunan], BEIJING) == Proof(AT, ())


def test_evidence_instant_is_the_start_of_the_evidence_day_in_beijing() -> None:
    """A match at 2026-02-01T10:00+08:00 on evidence of 2026-01-05 counts from
    2026-01-05T00:00+08:00; on evidence of its own day, from the match. 2026-01-31T20:00Z is
    already 2026-02-01 in Beijing, so evidence of 2026-02-01 is of the match's day."""
    matched = datetime(2026, 2, 1, 10, 0, tzinfo=BEIJING)
    assert evidence_instant(date(2026, 1, 5), matched, BEIJING) == datetime(
        2026, 1, 5, tzinfo=BEIJING
    )
    assert evidence_instant(date(2026, 2, 1), matched, BEIJING) == matched
    late_utc = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
    assert evidence_instant(date(2026, 2, 1), late_utc, BEIJING) == late_utc


def test_an_imprisonment_report_needs_the_window_and_documents() -> None:
    """While a report of 2026-03-01 stands, a window certification of 2026-03-10 with
    documents passes; without them, at another mode, or by face, documents_required."""
    assert documents_refusal(manual(ManualMode.WINDOW, "judgment-1")) is None
    for claim in (
        manual(ManualMode.WINDOW),
        manual(ManualMode.ASSISTED, "judgment-1"),
        face(0.9, 0.9),
        Claim(Channel.DATA_MATCH, PASSED, AT, evidence_date=date(2026, 3, 9)),
    ):
        refusal = documents_refusal(claim)
        assert refusal is not None and refusal.code == "documents_required"


def test_a_recorded_death_is_a_reported_one_or_a_confirmed_suspicion() -> None:
    """A death reported for 2026-02-14 is recorded; a suspected one of 2026-01-20 only once a
    case confirms it (then the earlier day stands); other stops are no death."""
    reported = stop("s1", StopReason.DEATH, date(2026, 2, 14))
    suspected = stop("s2", StopReason.DEATH, date(2026, 1, 20), suspected=True)
    prison = stop("s3", StopReason.IMPRISONMENT, date(2026, 1, 1))
    assert recorded_death([prison], []) is None
    assert recorded_death([reported, suspected, prison], []) == date(2026, 2, 14)
    confirmed = CaseFact("c1", None, "s2", AT, CaseOutcome.CONFIRMED_INELIGIBLE)
    assert recorded_death([reported, suspected], [confirmed]) == date(2026, 1, 20)
    cleared = CaseFact("c1", None, "s2", AT, CaseOutcome.CONFIRMED_ELIGIBLE)
    assert recorded_death([suspected], [cleared]) is None


def test_a_certification_after_a_recorded_death_does_not_count() -> None:
    """Death recorded 2026-02-14: a certification of 2026-02-15 does not count, one of the
    day itself does, and with no death recorded every day counts."""
    death = date(2026, 2, 14)
    assert after_recorded_death(date(2026, 2, 15), death)
    assert not after_recorded_death(date(2026, 2, 14), death)
    assert not after_recorded_death(date(2026, 2, 15), None)
