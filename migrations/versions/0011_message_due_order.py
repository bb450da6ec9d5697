"""message: ix_message_due holds the sweep's whole order (status, send_after, id)

Messages planned by one cycle share their send_after: ordered by (status, send_after) alone, each
claim read and sorted every due message to hand out the first batch. With id in the index a claim
reads a batch's worth of entries, however long the queue.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch_op:
        batch_op.drop_index("ix_message_due")
        batch_op.create_index("ix_message_due", ["status", "send_after", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message") as batch_op:
        batch_op.drop_index("ix_message_due")
        batch_op.create_index("ix_message_due", ["status", "send_after"], unique=False)
