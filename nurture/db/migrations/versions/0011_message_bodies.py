"""A message's bodies in a table of their own, written once, instead of columns of its ledger row.

Every stored body moves (and back on downgrade). The columns are dropped with ALTER TABLE DROP
COLUMN, which SQLite has had since 3.35, rather than by batch mode's copy of the whole table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 00:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_bodies",
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_bodies_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_bodies")),
    )
    # A key closed before it was composed (suppressed, a template error) has no bodies, no row.
    op.execute(
        "INSERT INTO message_bodies (message_id, html_body, text_body) "
        "SELECT id, html_body, text_body FROM messages "
        "WHERE html_body IS NOT NULL OR text_body IS NOT NULL"
    )
    op.drop_column("messages", "html_body")
    op.drop_column("messages", "text_body")


def downgrade() -> None:
    op.add_column("messages", sa.Column("html_body", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("text_body", sa.Text(), nullable=True))
    op.execute(
        "UPDATE messages SET "
        "html_body = (SELECT b.html_body FROM message_bodies b WHERE b.message_id = messages.id), "
        "text_body = (SELECT b.text_body FROM message_bodies b WHERE b.message_id = messages.id) "
        "WHERE id IN (SELECT message_id FROM message_bodies)"
    )
    op.drop_table("message_bodies")
