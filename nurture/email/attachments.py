"""Staged attachments: a message key's files, written before its send starts and read when it
is handed to the provider, so they never pass through workflow history; dropped once final."""

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.db.models import StagedAttachment
from nurture.email.new_message import LedgerRow
from nurture.email.outgoing import Attachment
from nurture.schemas.email import AttachmentInfo


class AttachmentsMissing(Exception):
    """A message names files that are no longer staged: it cannot be sent as it was asked."""


def info_of(attachment: Attachment) -> AttachmentInfo:
    """What the send request and the message keep of a file."""
    return AttachmentInfo(
        name=attachment.name,
        content_type=attachment.content_type,
        size=len(attachment.content),
        content_id=attachment.content_id,
    )


def stage(session: Session, *, key: str, attachments: Sequence[Attachment]) -> bool:
    """Stage the files of `key` and commit, unless files are staged for it already (a retried
    request, or a concurrent one that came first: its rows are kept). Whether this call staged them.
    """
    if not attachments:
        return False
    staged = session.scalar(
        select(func.count()).select_from(StagedAttachment).where(StagedAttachment.message_key == key)
    )
    if staged:
        return False
    session.add_all(
        StagedAttachment(
            message_key=key,
            position=position,
            name=file.name,
            content_type=file.content_type,
            content_id=file.content_id,
            content=file.content,
        )
        for position, file in enumerate(attachments)
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def staged(session: Session, message: LedgerRow) -> tuple[Attachment, ...]:
    """The files `message` is sent with, in order; no query for a message without any.

    Raises:
        AttachmentsMissing: fewer files are staged than the message names.
    """
    if not message.attachments:
        return ()
    rows = session.scalars(
        select(StagedAttachment)
        .where(StagedAttachment.message_key == message.key)
        .order_by(StagedAttachment.position)
    ).all()
    if len(rows) != len(message.attachments):
        raise AttachmentsMissing(
            f"{message.key} names {len(message.attachments)} attachments and {len(rows)} are staged"
        )
    return tuple(Attachment(r.name, r.content_type, r.content, r.content_id) for r in rows)


def discard(session: Session, keys: Iterable[str]) -> None:
    """Drop the staged files of keys that are final (sent, suppressed or failed)."""
    keys = list(keys)
    if keys:
        session.execute(delete(StagedAttachment).where(StagedAttachment.message_key.in_(keys)))
