"""Transactional and 1:1 email: reply-to, Cc, Bcc, attachments and metadata on messages; who sent
a 1:1 email and what it concerns; idempotency digests; connected mailboxes.

(A reply to mailbox email names its Message-ID, which is the message's provider_message_id.)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import nurture.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("cc", _JSON, nullable=True))
        batch_op.add_column(sa.Column("bcc", _JSON, nullable=True))
        batch_op.add_column(sa.Column("attachments", _JSON, nullable=True))
        batch_op.add_column(sa.Column("custom_metadata", _JSON, nullable=True))
        batch_op.add_column(sa.Column("request_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("user_id", _BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("deal_id", _BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("account_id", _BIG_ID, nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_deal_id"), ["deal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_account_id"), ["account_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_user_id_users"), "users", ["user_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_deal_id_deals"), "deals", ["deal_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_account_id_accounts"),
            "accounts",
            ["account_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "mailboxes",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_synced_at", nurture.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", nurture.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mailboxes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("user_id", name=op.f("uq_mailboxes_user_id")),
    )


def downgrade() -> None:
    op.drop_table("mailboxes")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_account_id_accounts"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_messages_deal_id_deals"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_messages_user_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_messages_account_id"))
        batch_op.drop_index(batch_op.f("ix_messages_deal_id"))
        batch_op.drop_index(batch_op.f("ix_messages_user_id"))
        for column in (
            "account_id",
            "deal_id",
            "user_id",
            "request_digest",
            "custom_metadata",
            "attachments",
            "bcc",
            "cc",
            "reply_to",
        ):
            batch_op.drop_column(column)
