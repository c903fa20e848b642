"""Legacy history import: past certifications from the provincial platform, from CSV.

The first deployment must start with years of history, so imports bypass the backdate limit,
are marked ``imported``, and are idempotent: each row's ``source_ref`` (or, when the platform
gave none, a digest of the row) is unique for the import client, so a re-run inserts nothing
twice. Rows are validated with the same per-channel evidence models as the API; a row that
fails is written, with its reason, to a rejects file, and the rest go on.

Scores are not re-judged: the platform's own pass/fail stands (its thresholds were the policy
of the day). A row counts when its result is ``passed``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.db import accounts
from app.db.base import new_id, utcnow
from app.db.certifications import records
from app.db.engine import SessionMaker
from app.domain.acceptance import evidence_instant
from app.domain.imports import imported_counts, imported_row_problem, reason_kind
from app.protection import IdProtector
from app.schemas.certifications import AnyCertificationCreate, CertificationCreate
from app.schemas.channels import DataMatchDetails, details_columns
from app.services.eligibility.policies import SERVICE_TIMEZONE
from app.services.recipients.id_lookup import find_recipient_ids

COLUMNS = ("id_number", "channel", "result", "occurred_at", "source_ref", "details")
BATCH_ROWS = 5000
_BODY = TypeAdapter[AnyCertificationCreate](CertificationCreate)


@dataclass
class ImportSummary:
    rows: int = 0
    loaded: int = 0
    already_present: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


Progress = Callable[[ImportSummary], None]


async def import_certifications(
    sessionmaker: SessionMaker,
    protector: IdProtector,
    source: Path,
    rejects: Path,
    client_name: str = "legacy-import",
    progress: Progress | None = None,
) -> ImportSummary:
    """Load ``source`` in batches of BATCH_ROWS, one transaction per batch."""
    summary = ImportSummary()
    client_id = await _import_client(sessionmaker, client_name)
    now = utcnow()
    with (
        source.open(newline="", encoding="utf-8-sig") as handle,
        rejects.open("w", newline="", encoding="utf-8") as rejected_file,
    ):
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{source}: missing columns {', '.join(missing)}")
        rejected = csv.writer(rejected_file)
        rejected.writerow([*COLUMNS, "line", "reason"])
        for batch in _batches(reader):
            parsed = []
            for line, row in batch:
                summary.rows += 1
                try:
                    parsed.append((line, row, _parse(row, now)))
                except _Rejected as exc:
                    _reject(summary, rejected, row, line, exc.reason)
            async with sessionmaker() as session, session.begin():
                recipients = await find_recipient_ids(
                    session, protector, [body.id_number or "" for _, _, body in parsed]
                )
                values = []
                for line, row, body in parsed:
                    recipient_id = recipients.get(body.id_number or "")
                    if recipient_id is None:
                        _reject(summary, rejected, row, line, "unknown_recipient")
                        continue
                    values.append(_row_values(body, row, recipient_id, client_id, now))
                if values:
                    loaded = await records.insert_imported(session, values)
                    summary.loaded += loaded
                    summary.already_present += len(values) - loaded
            if progress is not None:
                progress(summary)
    return summary


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _batches(reader: csv.DictReader[str]) -> Iterator[list[tuple[int, dict[str, str]]]]:
    batch: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        batch.append((reader.line_num, row))
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _parse(row: dict[str, str], now: datetime) -> AnyCertificationCreate:
    try:
        details = json.loads(row.get("details") or "{}")
    except json.JSONDecodeError:
        raise _Rejected("details_not_json") from None
    raw: dict[str, Any] = {
        "id_number": row.get("id_number", ""),
        "channel": row.get("channel", ""),
        "result": row.get("result", ""),
        "occurred_at": row.get("occurred_at", ""),
        "details": details,
    }
    if row.get("source_ref"):
        raw["source_ref"] = row["source_ref"]
    try:
        body = _BODY.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        code = "invalid_id_number" if first["type"] == "invalid_id_number" else "invalid"
        raise _Rejected(f"{code}: {where}: {first['msg']}") from None
    details = body.details
    evidence_date = details.evidence_date if isinstance(details, DataMatchDetails) else None
    problem = imported_row_problem(body.occurred_at, now, evidence_date, SERVICE_TIMEZONE)
    if problem is not None:
        raise _Rejected(problem)
    if evidence_date is not None:
        # Counted from the evidence's own date, as at the API.
        occurred_at = evidence_instant(evidence_date, body.occurred_at, SERVICE_TIMEZONE)
        body = body.model_copy(update={"occurred_at": occurred_at})
    return body


def _row_values(
    body: AnyCertificationCreate,
    row: dict[str, str],
    recipient_id: uuid.UUID,
    client_id: uuid.UUID,
    now: datetime,
) -> dict[str, Any]:
    # The row's own digest keys re-runs when the platform gave no reference; the ID number
    # is left out of it so the digest cannot be used to test guesses of the number.
    canonical = json.dumps({k: v for k, v in row.items() if k != "id_number"}, sort_keys=True)
    digest = hashlib.sha256(f"{recipient_id}|{canonical}".encode()).hexdigest()
    return {
        "id": new_id(),
        "recipient_id": recipient_id,
        "channel": body.channel,
        "result": body.result,
        "counted": imported_counts(body.result),
        "occurred_at": body.occurred_at,
        "recorded_at": now,
        "client_id": client_id,
        "source_ref": body.source_ref or f"import:{digest[:40]}",
        "idempotency_key": None,
        "request_digest": digest,
        "details": body.details.model_dump(mode="json"),
        "warnings": [],
        "imported": True,
        "mode": getattr(body.details, "mode", None),
        "revoked_at": None,
        "revoked_by": None,
        "revoke_reason": None,
        **details_columns(body.details),
    }


def _reject(
    summary: ImportSummary, writer: Any, row: dict[str, str], line: int, reason: str
) -> None:
    summary.rejected += 1
    kind = reason_kind(reason)
    summary.reasons[kind] = summary.reasons.get(kind, 0) + 1
    # The rejects file holds what the source file held; it is as sensitive as the source.
    writer.writerow([*(row.get(c, "") for c in COLUMNS), line, reason])


async def _import_client(sessionmaker: SessionMaker, name: str) -> uuid.UUID:
    """Imported records are attributed to a system client that can never authenticate."""
    async with sessionmaker() as session, session.begin():
        return await accounts.system_client_id(session, name, revoked_at=utcnow())
