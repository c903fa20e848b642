"""Names and phones sealed at rest: ciphertext columns replace the plaintext ones

Recipients' names and phones and home-visit requests' contact phones are sealed with the ID
encryption key ring, each for its column and row (app/services/recipients/personal_data.py). The upgrade
seals every existing row, then drops the plaintext columns; the downgrade opens them back.

Both directions need the service's ID encryption keys (``certsvc migrate`` passes its settings;
plain ``alembic`` reads the environment's) whenever there are rows to convert, and check first
that the keys open a stored ID number, so that nothing is ever sealed under a key the service
does not hold. An empty database needs no key. Offline (``--sql``) mode cannot convert rows.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from app.protection import IdProtector, load_id_protector
from app.services.recipients.personal_data import (
    CONTACT_PHONE,
    RECIPIENT_NAME,
    RECIPIENT_PHONE,
    seal,
    unseal,
)
from app.settings import Settings, get_settings

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows per read and per executemany: memory stays flat on a province's million recipients.
BATCH_ROWS = 5000

_RECIPIENTS = sa.table(
    "recipients",
    sa.column("id", sa.Uuid()),
    sa.column("id_ciphertext", sa.LargeBinary()),
    sa.column("name", sa.String()),
    sa.column("phone", sa.String()),
    sa.column("name_ciphertext", sa.LargeBinary()),
    sa.column("phone_ciphertext", sa.LargeBinary()),
)
_REQUESTS = sa.table(
    "home_visit_requests",
    sa.column("id", sa.Uuid()),
    sa.column("contact_phone", sa.String()),
    sa.column("contact_phone_ciphertext", sa.LargeBinary()),
)
# Per table: (plaintext column, ciphertext column, the field its seal is bound to)
_FIELDS = (
    (
        _RECIPIENTS,
        (
            ("name", "name_ciphertext", RECIPIENT_NAME),
            ("phone", "phone_ciphertext", RECIPIENT_PHONE),
        ),
    ),
    (_REQUESTS, (("contact_phone", "contact_phone_ciphertext", CONTACT_PHONE),)),
)


def upgrade() -> None:
    protector = _checked_protector()
    if op.get_bind().dialect.name == "sqlite":
        # Pages freed by the table copies below are zeroed, not left holding the plaintext.
        op.execute("PRAGMA secure_delete = ON")
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("name_ciphertext", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("phone_ciphertext", sa.LargeBinary(), nullable=True))
        # Cleared as each row is sealed, so that no live row version holds it (PostgreSQL
        # keeps a dropped column's bytes in the rows until they are rewritten).
        batch.alter_column("name", existing_type=sa.String(length=100), nullable=True)
    with op.batch_alter_table("home_visit_requests") as batch:
        batch.add_column(sa.Column("contact_phone_ciphertext", sa.LargeBinary(), nullable=True))
    if protector is not None:
        for table, fields in _FIELDS:
            steps = [(plain, sealed, partial(seal, protector, f)) for plain, sealed, f in fields]
            _convert(table, steps, clear=True)
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column("name_ciphertext", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("phone")
        batch.drop_column("name")
    with op.batch_alter_table("home_visit_requests") as batch:
        batch.drop_column("contact_phone")


def downgrade() -> None:
    protector = _checked_protector()
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("phone", sa.String(length=20), nullable=True))
    with op.batch_alter_table("home_visit_requests") as batch:
        batch.add_column(sa.Column("contact_phone", sa.String(length=20), nullable=True))
    if protector is not None:
        for table, fields in _FIELDS:
            steps = [(sealed, plain, partial(unseal, protector, f)) for plain, sealed, f in fields]
            _convert(table, steps)
    with op.batch_alter_table("recipients") as batch:
        batch.alter_column("name", existing_type=sa.String(length=100), nullable=False)
        batch.drop_column("phone_ciphertext")
        batch.drop_column("name_ciphertext")
    with op.batch_alter_table("home_visit_requests") as batch:
        batch.drop_column("contact_phone_ciphertext")


def _checked_protector() -> IdProtector | None:
    """The service's key ring, or None when no recipient is stored (nothing to convert). Fails
    before any change when the keys do not open a stored ID number: sealing under a key the
    service lacks would lose every name and phone."""
    if context.is_offline_mode():
        raise RuntimeError("migration 0010 converts stored rows: run it against the database")
    bind = op.get_bind()
    sample = bind.execute(sa.select(_RECIPIENTS.c.id_ciphertext).limit(1)).scalar()
    if sample is None:
        return None
    settings: Settings = context.config.attributes.get("settings") or get_settings()
    protector = load_id_protector(settings)
    try:
        protector.decrypt(bytes(sample))
    except ValueError:
        raise RuntimeError(
            "migration 0010: the configured ID encryption keys (CERTSVC_ID_ENCRYPTION_KEY and "
            "its previous keys) do not open the stored ID numbers; run it with the service's keys"
        ) from None
    return protector


def _convert(
    table: sa.TableClause,
    steps: Sequence[tuple[str, str, Callable[[Any, Any], Any]]],
    *,
    clear: bool = False,
) -> None:
    """For every row, set each step's target column from its source column (None stays None),
    one UPDATE per row, in keyset batches; with ``clear``, the sources become NULL in it."""
    bind = op.get_bind()
    values: dict[str, Any] = {target: sa.bindparam(f"b_{target}") for _, target, _ in steps}
    if clear:
        values.update({source: None for source, _, _ in steps})
    statement = sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(values)
    after = None
    while True:
        query = sa.select(table.c.id, *(table.c[source] for source, _, _ in steps))
        if after is not None:
            query = query.where(table.c.id > after)
        rows = bind.execute(query.order_by(table.c.id).limit(BATCH_ROWS)).all()
        if not rows:
            return
        bind.execute(
            statement,
            [
                {
                    "b_id": row[0],
                    **{
                        f"b_{target}": transform(row[0], value)
                        for (_, target, transform), value in zip(steps, row[1:], strict=True)
                    },
                }
                for row in rows
            ],
        )
        after = rows[-1][0]
