"""Audit log entries as served to administrators."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class AuditEntryRead(BaseModel):
    entry_id: uuid.UUID
    at: datetime
    client_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str
    recipient_id: uuid.UUID | None
    detail: dict[str, object]
