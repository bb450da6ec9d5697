"""at most one open call task per case

Revision ID: 0006
Revises: 0005
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_CALL = "status = 'open' AND kind = 'call' AND case_id IS NOT NULL"


def upgrade() -> None:
    # Calls piled up before the constraint (one per step that had no usable channel): the first
    # one opened stays, the later ones are closed as its duplicates.
    now = datetime.now(UTC).replace(tzinfo=None)  # UTC columns store naive UTC
    op.execute(
        sa.text(
            f"UPDATE task SET status = 'done', done_at = :now, done_by = 'system' "
            f"WHERE {OPEN_CALL} AND EXISTS (SELECT 1 FROM task AS earlier WHERE earlier.case_id = task.case_id "
            f"AND earlier.kind = 'call' AND earlier.status = 'open' AND earlier.id < task.id)"
        ).bindparams(now=now)
    )
    op.create_index(
        "uq_task_open_call_case",
        "task",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_CALL),
        postgresql_where=sa.text(OPEN_CALL),
    )


def downgrade() -> None:
    op.drop_index("uq_task_open_call_case", table_name="task")
