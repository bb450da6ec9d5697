"""events in commit order, webhook endpoints and the delivery of each event to each endpoint

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dunning.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("type", TEXT(length=50), nullable=False),
        sa.Column("occurred_at", dunning.db.UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_type", "event", ["type", "id"])
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", TEXT(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", TEXT(length=500), nullable=True),
        sa.Column("secret", TEXT(length=100), nullable=False),
        sa.Column("created_at", dunning.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", TEXT(length=200), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("failing_since", dunning.db.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", dunning.db.UTCDateTime(), nullable=True),
        sa.Column("disabled_at", dunning.db.UTCDateTime(), nullable=True),
        sa.Column("disabled_reason", TEXT(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("status", TEXT(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", dunning.db.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", TEXT(length=100), nullable=True),
        sa.Column("claimed_at", dunning.db.UTCDateTime(), nullable=True),
        sa.Column("last_attempt_at", dunning.db.UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", TEXT(length=1000), nullable=True),
        sa.Column("delivered_at", dunning.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", dunning.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoint.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_delivery"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_delivery_endpoint_id", "webhook_delivery", ["endpoint_id"])


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_endpoint")
    op.drop_table("event")
