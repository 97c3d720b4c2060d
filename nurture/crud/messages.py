"""The send ledger: find messages by id, key or provider id, and the links stored for them."""

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nurture.db.models import Message, MessageEvent, MessageLink, MessageStatus


def get_message(session: Session, *, message_id: int) -> Message | None:
    """The message with this id."""
    return session.get(Message, message_id)


def get_message_by_key(session: Session, *, key: str) -> Message | None:
    """The message with this message key."""
    return session.scalar(select(Message).where(Message.key == key))


def get_message_by_provider_id(session: Session, *, provider_message_id: str) -> Message | None:
    """The message the provider knows by this id (Postmark's MessageID)."""
    return session.scalar(select(Message).where(Message.provider_message_id == provider_message_id))


def save_links(session: Session, *, message: Message, urls: list[str]) -> None:
    """Store the link targets of a message, numbered from 0 in order."""
    session.add_all(MessageLink(message_id=message.id, position=i, url=url) for i, url in enumerate(urls))
    session.flush()


def get_link(session: Session, *, message_id: int, position: int) -> MessageLink | None:
    """The link at this position in this message."""
    return session.get(MessageLink, (message_id, position))


def filter_messages(
    *, contact_id: int | None = None, status: MessageStatus | None = None, key: str | None = None
) -> Select[Message]:
    """A query for messages matching every filter given."""
    query = select(Message)
    if contact_id is not None:
        query = query.where(Message.contact_id == contact_id)
    if status is not None:
        query = query.where(Message.status == status)
    if key is not None:
        query = query.where(Message.key == key)
    return query


def message_events(session: Session, *, message_id: int) -> list[MessageEvent]:
    """The events recorded on a message, oldest first."""
    return list(
        session.scalars(
            select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)
        )
    )
