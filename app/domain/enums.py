"""The domain's vocabulary, shared by the rules, the schemas and the database."""

from enum import StrEnum


class BenefitType(StrEnum):
    ENTERPRISE_PENSION = "enterprise_pension"
    INSTITUTION_PENSION = "institution_pension"  # 机关事业单位养老保险
    RESIDENT_PENSION = "resident_pension"  # 城乡居民养老保险
    WORK_INJURY_DISABILITY = "work_injury_disability"  # 伤残津贴
    WORK_INJURY_NURSING = "work_injury_nursing"  # 护理费
    WORK_INJURY_DEPENDENT = "work_injury_dependent"  # 供养亲属抚恤金
    UNEMPLOYMENT = "unemployment"
    ILLNESS_DISABILITY_ALLOWANCE = "illness_disability_allowance"  # 病残津贴


class Residence(StrEnum):
    IN_PROVINCE = "in_province"
    OUT_OF_PROVINCE = "out_of_province"
    OVERSEAS = "overseas"


class Channel(StrEnum):
    FACE = "face"
    CONSULAR_APP = "consular_app"
    MANUAL = "manual"
    GRASSROOTS_TERMINAL = "grassroots_terminal"
    HOME_VISIT = "home_visit"
    DATA_MATCH = "data_match"


class ManualMode(StrEnum):
    WINDOW = "window"
    VERIFIED_BY_GRID_WORKER = "verified_by_grid_worker"
    VERIFIED_BY_EMPLOYER = "verified_by_employer"
    OUT_OF_PROVINCE_ONLINE = "out_of_province_online"
    OVERSEAS_EMBASSY_FORM = "overseas_embassy_form"
    ASSISTED = "assisted"


class CertificationResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class EligibilityStatus(StrEnum):
    ELIGIBLE = "eligible"
    SUSPENDED = "suspended"
    STOPPED = "stopped"
    AWAITING_FIRST_CERTIFICATION = "awaiting_first_certification"
    NOT_REQUIRED = "not_required"


class ResumptionMode(StrEnum):
    """How a suspended benefit comes back, from the lightest route to the most demanding."""

    AUTOMATIC = "automatic"
    COMMITMENT_REQUIRED = "commitment_required"  # 告知承诺
    EMPLOYER_VERIFICATION = "employer_verification"
    CONTINUATION_PROCEDURE = "continuation_procedure"  # 续发程序

    @property
    def demand(self) -> int:
        """Rank: where several tiers match, the most demanding route applies."""
        return _DEMAND[self]


_DEMAND = {mode: rank for rank, mode in enumerate(ResumptionMode)}


class Role(StrEnum):
    MOBILE = "mobile"
    COUNTY = "county"
    DATA_EXCHANGE = "data_exchange"
    PAYMENT = "payment"
    ADMIN = "admin"
