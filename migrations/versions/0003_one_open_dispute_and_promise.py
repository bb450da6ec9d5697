"""at most one open dispute per invoice and one open promise per account

Revision ID: 0003
Revises: 0002
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = "status = 'open'"


def upgrade() -> None:
    # Duplicates left by concurrent requests before the constraint existed are settled first.
    # Disputes: the first one opened stays; the later ones are resolved as duplicates of it and
    # their tasks closed (the team answers one dispute per invoice).
    now = datetime.now(UTC).replace(tzinfo=None)  # UTC columns store naive UTC
    later_dispute = (
        "status = 'open' AND EXISTS (SELECT 1 FROM dispute AS earlier WHERE earlier.invoice_id = "
        "dispute.invoice_id AND earlier.status = 'open' AND earlier.id < dispute.id)"
    )
    op.execute(
        sa.text(
            f"UPDATE task SET status = 'done', done_at = :now, done_by = 'system' WHERE status = 'open' "
            f"AND id IN (SELECT task_id FROM dispute WHERE {later_dispute})"
        ).bindparams(now=now)
    )
    op.execute(
        sa.text(
            f"UPDATE dispute SET status = 'resolved', outcome = 'duplicate', resolved_at = :now, "
            f"resolved_by = 'system', note = 'a duplicate of an earlier open dispute on the same invoice' "
            f"WHERE {later_dispute}"
        ).bindparams(now=now)
    )
    # Promises: a new promise replaces the open one, so the newest stays and the older are cancelled.
    op.execute(
        sa.text(
            "UPDATE promise SET status = 'cancelled', settled_at = :now WHERE status = 'open' AND EXISTS "
            "(SELECT 1 FROM promise AS newer WHERE newer.customer_id = promise.customer_id AND "
            "newer.currency = promise.currency AND newer.status = 'open' AND newer.id > promise.id)"
        ).bindparams(now=now)
    )
    op.create_index(
        "uq_dispute_open_invoice",
        "dispute",
        ["invoice_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "uq_promise_open_account",
        "promise",
        ["customer_id", "currency"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_promise_open_account", table_name="promise")
    op.drop_index("uq_dispute_open_invoice", table_name="dispute")
