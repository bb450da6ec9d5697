"""customers' link version: a contact change or a revocation makes older portal links worthless

Revision ID: runtime_02
Revises: runtime_01
"""
import sqlalchemy as sa
from alembic import op

revision = "runtime_02"
down_revision = "runtime_01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch_op:
        batch_op.add_column(sa.Column("link_version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("customer") as batch_op:
        batch_op.drop_column("link_version")
