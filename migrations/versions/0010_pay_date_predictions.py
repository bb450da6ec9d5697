"""pay_date_prediction: each open invoice's newest payment-date quantiles

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dunning.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pay_date_prediction",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("q10_days", sa.Float(), nullable=False),
        sa.Column("q50_days", sa.Float(), nullable=False),
        sa.Column("q90_days", sa.Float(), nullable=False),
        sa.Column("model_version", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("predicted_at", dunning.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoice.id"]),
        sa.PrimaryKeyConstraint("invoice_id"),
    )
    op.create_index("ix_pay_date_prediction_customer_id", "pay_date_prediction", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_pay_date_prediction_customer_id", table_name="pay_date_prediction")
    op.drop_table("pay_date_prediction")
