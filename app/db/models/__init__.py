"""Typed models, one module per feature. Relationships are ``lazy="raise"``: every load is
explicit. Importing this package registers every table on `app.db.base.Base.metadata` (what
Alembic's env.py compares against); every model is importable from here."""

from app.db.models.accounts import ApiClient, AuditEntry
from app.db.models.calendar import CalendarDay, CalendarSchedule
from app.db.models.certifications import Certification, HomeVisitRequest
from app.db.models.notices import BenefitState, OutboxEvent, Webhook, WebhookDelivery
from app.db.models.payment_runs import UNSETTLED_ITEMS, PaymentRun, PaymentRunItem, PaymentRunPage
from app.db.models.recipients import Benefit, Recipient, RegistryHistory
from app.db.models.suspension import (
    CaseContact,
    Moratorium,
    ResumptionStep,
    StopReport,
    VerificationCase,
)

__all__ = [
    "UNSETTLED_ITEMS",
    "ApiClient",
    "AuditEntry",
    "Benefit",
    "BenefitState",
    "CalendarDay",
    "CalendarSchedule",
    "CaseContact",
    "Certification",
    "HomeVisitRequest",
    "Moratorium",
    "OutboxEvent",
    "PaymentRun",
    "PaymentRunItem",
    "PaymentRunPage",
    "Recipient",
    "RegistryHistory",
    "ResumptionStep",
    "StopReport",
    "VerificationCase",
    "Webhook",
    "WebhookDelivery",
]
