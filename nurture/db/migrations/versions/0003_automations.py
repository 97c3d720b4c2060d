"""Automations: definitions in immutable versions, contacts' runs, and custom contact events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 18:34:21.631621
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nurture.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft", "active", "paused", "archived", name="automationstatus", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("created_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automations")),
    )
    # Names are unique ignoring case; autogenerate cannot see expression indexes.
    op.create_index("uq_automations_name_lower", "automations", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "automation_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("automation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_versions_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_versions")),
        sa.UniqueConstraint("automation_id", "number", name="uq_automation_versions_number"),
    )
    op.create_table(
        "automation_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("automation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("entry_value", sa.String(length=200), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "running", "completed", "exited", "failed", name="runstatus", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("current_step", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.Column("started_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", nurture.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_runs_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_automation_runs_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["automation_versions.id"],
            name=op.f("fk_automation_runs_version_id_automation_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_automation_runs_workflow_id")),
    )
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automation_runs_automation_status", ["automation_id", "status"], unique=False
        )
        batch_op.create_index("ix_automation_runs_contact", ["contact_id", "automation_id"], unique=False)

    op.create_table(
        "contact_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("properties", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("occurred_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_events_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_events")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_contact_events_idempotency_key")),
    )
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_events_contact_name", ["contact_id", "name", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_events_contact_name")

    op.drop_table("contact_events")
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_automation_runs_contact")
        batch_op.drop_index("ix_automation_runs_automation_status")

    op.drop_table("automation_runs")
    op.drop_table("automation_versions")
    op.drop_index("uq_automations_name_lower", table_name="automations")
    op.drop_table("automations")
