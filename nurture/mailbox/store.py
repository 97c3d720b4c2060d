"""A user's connected mailbox as stored: its settings with the secret unsealed, and the sent
emails its replies answer."""

from email.utils import formataddr

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.db.models import Mailbox, Message, User
from nurture.email.inbound import InboundEmail
from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.secrets import unseal
from nurture.settings import Settings


def mailbox_of(session: Session, user_id: int) -> Mailbox | None:
    """The user's connected mailbox, or None when their 1:1 email goes through the platform."""
    return session.scalar(select(Mailbox).where(Mailbox.user_id == user_id))


def sender_of(session: Session, user: User) -> tuple[str, bool]:
    """The From of the user's 1:1 email, and whether it goes through their connected mailbox:
    from the mailbox's own address then, else from the user's."""
    mailbox = mailbox_of(session, user.id)
    address = mailbox.settings["from_email"] if mailbox is not None else user.email
    return formataddr((user.name, address)), mailbox is not None


def config_of(mailbox: Mailbox, settings: Settings) -> MailboxConfig:
    """The mailbox's settings with its secret, to connect with.

    Raises:
        SecretUnreadable: the secret was sealed under another secret key.
    """
    secret = unseal(mailbox.secret_sealed, key=settings.secret_key)
    return MailboxConfig.model_validate({**mailbox.settings, "secret": secret})


def answered_message(session: Session, *, user_id: int, reply: InboundEmail) -> Message | None:
    """The user's mailbox email that a received email answers, by In-Reply-To, else References.

    A mailbox email's provider id is its Message-ID, which replies name.
    """
    for wanted in (reply.in_reply_to, *reversed(reply.references)):
        if not wanted:
            continue
        found = session.scalar(
            select(Message).where(
                Message.provider_message_id == wanted, Message.provider == "smtp", Message.user_id == user_id
            )
        )
        if found is not None:
            return found
    return None
