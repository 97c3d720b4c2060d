"""Automation step entries: which runs entered which steps, for the report's "entered" counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:46:14.931744
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_step_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("automation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("entered_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_step_entries_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_runs.id"],
            name=op.f("fk_automation_step_entries_run_id_automation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_step_entries")),
    )
    with op.batch_alter_table("automation_step_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automation_step_entries_automation_step", ["automation_id", "step"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_automation_step_entries_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("automation_step_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_step_entries_run_id"))
        batch_op.drop_index("ix_automation_step_entries_automation_step")

    op.drop_table("automation_step_entries")
