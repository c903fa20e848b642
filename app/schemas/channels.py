"""What each certification channel must keep as evidence (a certification's ``details``).

Every model forbids unknown fields (a misspelt key is an error, never silently dropped
evidence), is frozen, and strips surrounding whitespace. References (``*_ref``) point at a
stored object and are never the object itself: a data: URI or base64 image is refused.

- ``face`` (刷脸认证, 民生山西 / 老来健康 / 智慧人社 / 掌上12333 / 电子社保卡): app, provider,
  similarity and liveness scores, device, country where taken, photo reference — the scores
  show why an attempt passed or failed, device and country feed fraud analysis.
- ``consular_app`` (中国领事 app, residents abroad): as face, plus country of residence and
  consulate, which identify the recipient's overseas jurisdiction.
- ``manual`` (人工认证), by ``mode``: always the office and operator accountable for it;
  ``window`` the signed commitment letter (承诺书) and on-site photo; ``verified_by_*`` who
  verified (grid worker or former employer); ``out_of_province_online`` the online review
  record (the operator is the reviewer); ``overseas_embassy_form`` the serial and issuing
  embassy of the original 在境外居住人员领取养老金资格审核表 and who brought it;
  ``assisted`` (Hunan 协助认证) who assisted, on whose application.
- ``grassroots_terminal`` (基层服务点认证, incl. bank branches): service point, terminal,
  credential shown, and the operator unless it was a self-service terminal.
- ``home_visit`` (上门服务认证): the application it answers, visitor, visit time, photo.
- ``data_match`` (Hunan 信息比对 "无感认证"): which department's record, what evidence and when,
  and the matching batch, so a wrong match can be traced and revoked.

Decisions: ``country`` is required (a default "CN" would invent evidence where fraud analysis
most needs the truth); alpha-2 codes must be upper case and are checked for shape only;
scores are strict numbers in [0, 1] (no strings or booleans); a consular resident's country of
residence cannot be CN; ``china_consular`` is only accepted on the ``consular_app`` channel.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from app.domain.enums import Channel, ManualMode
from app.schemas.common import (
    LINE_PATTERN,
    Day,
    Instant,
    JsonPattern,
    given,
    refuse_control_characters,
    rules,
)

_CONSULAR_APP = "china_consular"
# Leading bytes of JPEG, PNG, GIF and WebP files once base64-encoded.
_BASE64_IMAGE_PREFIXES = ("/9j/", "iVBORw0KGgo", "R0lGOD", "UklGR")


def _not_inline_image(value: str) -> str:
    lowered = value.lower()
    if lowered.startswith("data:") or ";base64," in lowered:
        raise ValueError("must be a reference to a stored object, not a data: URI")
    if value.startswith(_BASE64_IMAGE_PREFIXES):
        raise ValueError("must be a reference to a stored object, not base64 image data")
    return value


Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(refuse_control_characters),
    JsonPattern(LINE_PATTERN),
]
"""A non-empty identifier or name (Chinese allowed), without control characters."""
Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^\S+$"),
    AfterValidator(refuse_control_characters),
    AfterValidator(_not_inline_image),
]
"""A reference to a record or stored object (a key, URI or record number), never its content."""
Slug = Annotated[str, StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 code, upper case (checked for shape only)."""
Score = Annotated[float, Field(ge=0.0, le=1.0, strict=True, allow_inf_nan=False)]


class _Strict(BaseModel):
    # Written out here (not via a shared variable) so the mypy plugin sees frozen and forbid.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --- face and consular app -----------------------------------------------------------------


class _BiometricDetails(_Strict):
    app: Slug
    provider: Text | None = None
    similarity: Score
    liveness: Score
    device_id: Text
    country: CountryCode = Field(description="Where the face was taken (ISO 3166-1 alpha-2).")
    photo_ref: Ref | None = None


class FaceDetails(_BiometricDetails):
    """Self-service face recognition in a mobile app (刷脸认证)."""

    app: Annotated[Slug, Field(json_schema_extra={"not": {"const": _CONSULAR_APP}})]

    @model_validator(mode="after")
    def _consular_app_has_its_own_channel(self) -> Self:
        if self.app == _CONSULAR_APP:
            raise ValueError(f"app {_CONSULAR_APP!r} is recorded on the consular_app channel")
        return self


class ConsularAppDetails(_BiometricDetails):
    """Face recognition in the 中国领事 app by a recipient living abroad."""

    app: Literal["china_consular"] = "china_consular"
    country_of_residence: Annotated[CountryCode, Field(json_schema_extra={"not": {"const": "CN"}})]
    consulate: Text

    @model_validator(mode="after")
    def _resides_abroad(self) -> Self:
        if self.country_of_residence == "CN":
            raise ValueError("country_of_residence must be outside China for consular_app")
        return self


# --- manual (人工认证) ----------------------------------------------------------------------


class _ManualDetails(_Strict):
    mode: ManualMode
    office: Text = Field(description="Office or agency (id or 6-digit code) where it was done.")
    operator: Text = Field(description="Id of the agency operator who recorded it.")
    photo_ref: Ref | None = None
    document_refs: tuple[Ref, ...] = Field(default=(), max_length=20)


class WindowManualDetails(_ManualDetails):
    """At an office window with ID, a signed commitment letter (承诺书) and an on-site photo."""

    mode: Literal[ManualMode.WINDOW]
    commitment_signed: Literal[True]
    photo_ref: Ref


class _VerifiedManualDetails(_ManualDetails):
    verifier_id: Text
    verified_on: Day | None = None


class GridWorkerVerifiedManualDetails(_VerifiedManualDetails):
    """At an office after the community (village) grid worker verified the person."""

    mode: Literal[ManualMode.VERIFIED_BY_GRID_WORKER]
    verifier_type: Literal["grid_worker"] = "grid_worker"


class EmployerVerifiedManualDetails(_VerifiedManualDetails):
    """At an office after the former employer's staff verified the person."""

    mode: Literal[ManualMode.VERIFIED_BY_EMPLOYER]
    verifier_type: Literal["employer"] = "employer"


class OutOfProvinceOnlineManualDetails(_ManualDetails):
    """Online review for a recipient living outside the province; the operator reviewed it."""

    mode: Literal[ManualMode.OUT_OF_PROVINCE_ONLINE]
    review_ref: Ref


class OverseasEmbassyFormManualDetails(_ManualDetails):
    """The original embassy-issued 在境外居住人员领取养老金资格审核表, brought to a window."""

    mode: Literal[ManualMode.OVERSEAS_EMBASSY_FORM]
    form_serial: Text
    embassy: Text
    brought_by: Literal["employer_staff", "grid_worker"]
    bearer_id: Text


class AssistedManualDetails(_ManualDetails):
    """Assisted certification (协助认证, Hunan) applied for by the employer or family."""

    model_config = ConfigDict(
        json_schema_extra=rules({"anyOf": [given("assistant_name"), given("assistant_id")]})
    )

    mode: Literal[ManualMode.ASSISTED]
    assisted_by: Literal["employer", "family"]
    assistant_name: Text | None = None
    assistant_id: Text | None = None
    application_ref: Ref | None = None

    @model_validator(mode="after")
    def _names_the_assistant(self) -> Self:
        if self.assistant_name is None and self.assistant_id is None:
            raise ValueError("assistant_name or assistant_id is required")
        return self


AnyManualDetails = (
    WindowManualDetails
    | GridWorkerVerifiedManualDetails
    | EmployerVerifiedManualDetails
    | OutOfProvinceOnlineManualDetails
    | OverseasEmbassyFormManualDetails
    | AssistedManualDetails
)
ManualDetails = Annotated[AnyManualDetails, Field(discriminator="mode")]


# --- the other channels --------------------------------------------------------------------


class GrassrootsTerminalDetails(_Strict):
    """At a village/community service point, self-service data terminal or bank branch."""

    service_point: Text
    terminal_id: Text
    credential_type: Literal["id_card", "social_security_card"]
    mode: Literal["service_point_staff", "self_service_terminal", "bank_branch"]
    operator: Text | None = None


class StaffedGrassrootsTerminalDetails(GrassrootsTerminalDetails):
    """Served by a service point's staff or a bank clerk, who is named (``operator``)."""

    mode: Literal["service_point_staff", "bank_branch"]
    operator: Text


class SelfServiceGrassrootsTerminalDetails(GrassrootsTerminalDetails):
    """On a self-service data terminal: an operator only if one helped."""

    mode: Literal["self_service_terminal"]


GrassrootsTerminalModeDetails = Annotated[
    StaffedGrassrootsTerminalDetails | SelfServiceGrassrootsTerminalDetails,
    Field(discriminator="mode"),
]


class HomeVisitDetails(_Strict):
    """A visit to an old, ill or disabled recipient, answering a home-visit request."""

    request_id: Text
    requested_by: Literal["self", "family", "employer", "community"] | None = None
    visitor_type: Literal["grid_worker", "employer_staff", "agency_staff"]
    visitor_id: Text
    visited_at: Instant
    photo_ref: Ref
    reason: Literal["elderly", "ill", "disabled", "other"] | None = None


class DataMatchDetails(_Strict):
    """Life evidence found in another department's data (信息比对, "无感认证")."""

    source_department: Literal[
        "court", "police", "civil_affairs", "justice", "health", "medical_insurance", "other"
    ]
    evidence_type: Slug = Field(description="e.g. medical_visit, hospital_settlement.")
    evidence_date: Day
    batch_id: Text
    record_ref: Ref


ChannelDetails = (
    FaceDetails
    | ConsularAppDetails
    | AnyManualDetails
    | StaffedGrassrootsTerminalDetails
    | SelfServiceGrassrootsTerminalDetails
    | HomeVisitDetails
    | DataMatchDetails
)


DETAILS_MODEL: Mapping[Channel, TypeAdapter[ChannelDetails]] = MappingProxyType(
    {
        Channel.FACE: TypeAdapter[ChannelDetails](FaceDetails),
        Channel.CONSULAR_APP: TypeAdapter[ChannelDetails](ConsularAppDetails),
        Channel.MANUAL: TypeAdapter[ChannelDetails](ManualDetails),
        Channel.GRASSROOTS_TERMINAL: TypeAdapter[ChannelDetails](GrassrootsTerminalModeDetails),
        Channel.HOME_VISIT: TypeAdapter[ChannelDetails](HomeVisitDetails),
        Channel.DATA_MATCH: TypeAdapter[ChannelDetails](DataMatchDetails),
    }
)
"""The validator of each channel's details."""


def parse_details(channel: Channel, raw: object) -> ChannelDetails:
    """Validate ``raw`` as ``channel``'s details.

    Raises ``pydantic.ValidationError`` whose locations are relative to the details object
    (a manual certification's start with its mode, as for any discriminated union).
    """
    return DETAILS_MODEL[channel].validate_python(raw)


_COLUMNS = (
    "app", "device_id", "similarity", "liveness", "office", "operator",
    "service_point", "terminal_id", "source_department", "batch_id", "home_visit_request_id"
)  # fmt: skip


def details_columns(details: ChannelDetails) -> dict[str, str | float | None]:
    """The few details that queries filter or group on, every key present (None if not kept)."""
    columns: dict[str, str | float | None] = dict.fromkeys(_COLUMNS)
    match details:
        case _BiometricDetails():
            columns.update(
                app=details.app,
                device_id=details.device_id,
                similarity=details.similarity,
                liveness=details.liveness,
            )
        case _ManualDetails():
            columns.update(office=details.office, operator=details.operator)
        case GrassrootsTerminalDetails():
            columns.update(
                service_point=details.service_point,
                terminal_id=details.terminal_id,
                operator=details.operator,
            )
        case HomeVisitDetails():
            columns["home_visit_request_id"] = details.request_id
        case DataMatchDetails():
            columns.update(source_department=details.source_department, batch_id=details.batch_id)
    return columns


# --- request body parts: ``channel`` and ``details`` side by side ---------------------------


class FaceCertificationPart(_Strict):
    channel: Literal[Channel.FACE]
    details: FaceDetails


class ConsularAppCertificationPart(_Strict):
    channel: Literal[Channel.CONSULAR_APP]
    details: ConsularAppDetails


class ManualCertificationPart(_Strict):
    channel: Literal[Channel.MANUAL]
    details: ManualDetails


class GrassrootsTerminalCertificationPart(_Strict):
    channel: Literal[Channel.GRASSROOTS_TERMINAL]
    details: GrassrootsTerminalModeDetails


class HomeVisitCertificationPart(_Strict):
    channel: Literal[Channel.HOME_VISIT]
    details: HomeVisitDetails


class DataMatchCertificationPart(_Strict):
    channel: Literal[Channel.DATA_MATCH]
    details: DataMatchDetails


CertificationChannelPart = Annotated[
    FaceCertificationPart
    | ConsularAppCertificationPart
    | ManualCertificationPart
    | GrassrootsTerminalCertificationPart
    | HomeVisitCertificationPart
    | DataMatchCertificationPart,
    Field(discriminator="channel"),
]
"""``channel`` and its ``details``, discriminated on ``channel`` (one OpenAPI schema each)."""
