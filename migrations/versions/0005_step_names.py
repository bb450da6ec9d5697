"""the step's name as people read it, kept with the case and each message

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows planned before this keep no name: the desk shows their step key.
    for table in ("dunning_case", "message"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("step_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))


def downgrade() -> None:
    for table in ("message", "dunning_case"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("step_name")
