"""Recording a reply to a sent email: on the message, the contact's stream and its Emails lists."""

import hashlib

from sqlalchemy.orm import Session

from nurture.automations.triggers import Change, Replied
from nurture.crud.engagement import record_engagement
from nurture.db.models import EngagementType, Message, MessageEvent
from nurture.email.inbound import InboundEmail

# A reply's text is kept for the Emails list, up to this many characters.
MAX_TEXT = 20_000


def reply_key(reply: InboundEmail) -> str:
    """What makes a reply the same reply when it arrives twice (a webhook retry, a second sync):
    its Message-ID, else what it says and when; hashed, since a Message-ID can be long."""
    seen = reply.message_id or f"{reply.from_email}\n{reply.subject}\n{reply.received_at}\n{reply.text}"
    return "reply:" + hashlib.sha256(seen.encode()).hexdigest()


def record_reply(
    session: Session, *, message: Message, reply: InboundEmail, source: str
) -> MessageEvent | None:
    """Record a person's reply to `message`; None if it was recorded before.

    The caller leaves out automatic replies (`reply.automatic`): an out-of-office is no answer.
    """
    data = {
        "from": reply.from_email,
        "from_name": reply.from_name,
        "subject": reply.subject,
        "text": reply.text[:MAX_TEXT],
        "message_id": reply.message_id,
    }
    return record_engagement(
        session,
        message=message,
        type=EngagementType.REPLIED,
        source=source,
        occurred_at=reply.received_at,
        data=data,
        dedup_key=reply_key(reply),
    )


def reply_changes(message: Message) -> list[Change]:
    """What a reply to `message` is to automations' triggers: a reply to a 1:1 email (one a user
    sent) to a contact, or nothing."""
    if message.user_id is None or message.contact_id is None:
        return []
    return [Replied(message.user_id)]
