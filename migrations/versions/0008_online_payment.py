"""online payment: Stripe Checkout sessions, payments' provider reference, source and named invoices

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dunning.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment") as batch_op:
        batch_op.add_column(sa.Column("invoice_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("provider_reference", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default="push")
        )
        batch_op.create_index("ix_payment_provider_reference", ["provider_reference"])
    # the invoice a payment named is now the first of the invoices it names
    array = "json_build_array(invoice_id)" if op.get_bind().dialect.name == "postgresql" else "json_array(invoice_id)"
    op.execute(f"UPDATE payment SET invoice_ids = {array} WHERE invoice_id IS NOT NULL")
    op.create_table(
        "payment_checkout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("link_version", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("invoice_ids", sa.JSON(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("provider_reference", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", dunning.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dunning.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("session_id"),
    )
    op.create_index("ix_payment_checkout_customer_id", "payment_checkout", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_checkout_customer_id", table_name="payment_checkout")
    op.drop_table("payment_checkout")
    with op.batch_alter_table("payment") as batch_op:
        batch_op.drop_index("ix_payment_provider_reference")
        batch_op.drop_column("source")
        batch_op.drop_column("provider_reference")
        batch_op.drop_column("invoice_ids")
