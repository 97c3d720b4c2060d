"""Staged attachments: a transactional email's files wait here until it is sent.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "staged_attachments",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("content_id", sa.String(length=255), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staged_attachments")),
        sa.UniqueConstraint("message_key", "position", name="uq_staged_attachments_key_position"),
    )
    op.create_index(
        op.f("ix_staged_attachments_message_key"), "staged_attachments", ["message_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staged_attachments_message_key"), table_name="staged_attachments")
    op.drop_table("staged_attachments")
