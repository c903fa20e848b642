"""Client systems and the audit log of what they changed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, new_id, str_enum, utcnow
from app.domain.enums import Role


class ApiClient(Base):
    """A client system. Its key is stored only as a SHA-256 digest (keys are 256-bit random,
    so a slow password hash would add latency to every request and no security)."""

    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, 16))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # The key is refused from this instant on; None: it never expires.
    expires_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Append-only record of who changed what. Holds identifiers, never personal data; on
    PostgreSQL a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_clients.id"))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[uuid.UUID | None]
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
