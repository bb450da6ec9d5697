"""contacts: several contacts per customer with roles, per-contact opt-outs and invalid marks, the
contacts a message went to and the contact a reply came from

Every customer with an email, phone or address gets the contact "primary" holding them (roles
["primary"]) and the customer's invalid marks; the customer's opt-outs stay customer-wide.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import dunning.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("invalid_channels", sa.JSON(), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", dunning.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dunning.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "external_id"),
    )
    op.create_index("ix_contact_customer_id", "contact", ["customer_id"])
    op.create_index("ix_contact_email", "contact", ["email"])
    op.create_index("ix_contact_phone", "contact", ["phone"])
    op.create_table(
        "contact_opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("at", dunning.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "channel"),
    )
    op.create_index("ix_contact_opt_out_contact_id", "contact_opt_out", ["contact_id"])
    # The content hash of a migrated contact matches nothing a push computes, so the first push
    # of the customer writes the contact once and links it to the push's hash.
    roles = "CAST('[\"primary\"]' AS JSON)" if op.get_bind().dialect.name == "postgresql" else "'[\"primary\"]'"
    op.execute(
        "INSERT INTO contact (customer_id, external_id, name, email, phone, address, language, roles, "
        "invalid_channels, content_hash, created_at, updated_at) "
        f"SELECT id, 'primary', name, email, phone, address, NULL, {roles}, invalid_channels, "
        "'migrated', created_at, updated_at FROM customer "
        "WHERE email IS NOT NULL OR phone IS NOT NULL OR address IS NOT NULL"
    )
    op.execute("ALTER TABLE customer DROP COLUMN invalid_channels")
    with op.batch_alter_table("message") as batch_op:
        batch_op.add_column(sa.Column("recipients", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("inbound_message") as batch_op:
        batch_op.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_inbound_message_contact_id", "contact", ["contact_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("inbound_message") as batch_op:
        batch_op.drop_constraint("fk_inbound_message_contact_id", type_="foreignkey")
        batch_op.drop_column("contact_id")
    with op.batch_alter_table("message") as batch_op:
        batch_op.drop_column("recipients")
    op.add_column("customer", sa.Column("invalid_channels", sa.JSON(), nullable=False, server_default="[]"))
    op.execute(
        "UPDATE customer SET invalid_channels = (SELECT c.invalid_channels FROM contact c "
        "WHERE c.customer_id = customer.id AND c.external_id = 'primary') "
        "WHERE id IN (SELECT customer_id FROM contact WHERE external_id = 'primary')"
    )
    op.drop_index("ix_contact_opt_out_contact_id", table_name="contact_opt_out")
    op.drop_table("contact_opt_out")
    op.drop_index("ix_contact_phone", table_name="contact")
    op.drop_index("ix_contact_email", table_name="contact")
    op.drop_index("ix_contact_customer_id", table_name="contact")
    op.drop_table("contact")
