"""A message's tracked link targets in its own row, written with it, instead of a row per link.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Messages sent before keep their targets in message_links, where clicks still find them.
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("link_urls", json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("link_urls")
