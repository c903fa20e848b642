"""Masked ID numbers keep only the province and city prefix (``1404**************``)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The stored mask kept the last four characters (birth-order serial and check character).
    # Beside the stored birth date and the agency's county they give the whole ID number back
    # in the clear, which the ID encryption exists to prevent (docs/security.md, "Least
    # privilege and masking").
    # The first four characters of the old mask are the number's own; no key is needed.
    op.execute(
        "UPDATE recipients SET id_masked = substr(id_masked, 1, 4) || '**************'"
        " WHERE id_masked <> substr(id_masked, 1, 4) || '**************'"
    )


def downgrade() -> None:
    # The schema is unchanged, so older code runs on the new masks as they are (any 18
    # characters). The hidden characters are not restored on purpose: that would write the
    # leak back; older code gives new registrations the old mask again.
    pass
