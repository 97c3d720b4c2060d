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
    message.link_urls = list(urls)
    session.flush()


def link_url(session: Session, *, message: Message, position: int) -> str | None:
    """The target of the link at this position in this message, if it has one there."""
    if message.link_urls is None:
        # Sent before messages kept their links.
        link = session.get(MessageLink, (message.id, position))
        return link.url if link is not None else None
    return message.link_urls[position] if 0 <= position < len(message.link_urls) else None


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
