"""Postmark's reactivations of addresses, so that an older bounce handled later does not suppress.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reactivations",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "hard_bounce",
                "spam_complaint",
                "manual",
                name="suppressionreason",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("changed_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reactivations")),
        sa.UniqueConstraint("email", "reason", name="uq_reactivations_email_reason"),
    )


def downgrade() -> None:
    op.drop_table("reactivations")
