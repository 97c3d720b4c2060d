"""The suppression list: who must not be emailed, and which kinds of email that blocks."""

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nurture.crud.search import matches
from nurture.db.models import Contact, ContactStatus, Suppression, SuppressionReason, TemplateKind

# A spam complaint is about marketing; the person still gets their password reset.
BLOCKS_TRANSACTIONAL = {SuppressionReason.HARD_BOUNCE, SuppressionReason.MANUAL}
# What a suppression does to the standing of the contact with that address.
CONTACT_STATUS = {
    SuppressionReason.HARD_BOUNCE: ContactStatus.BOUNCED,
    SuppressionReason.SPAM_COMPLAINT: ContactStatus.COMPLAINED,
}


def get_suppression(session: Session, *, email: str) -> Suppression | None:
    """The suppression of this address, ignoring case."""
    return session.scalar(select(Suppression).where(Suppression.email == email.strip().lower()))


def blocks(suppression: Suppression, *, kind: TemplateKind) -> bool:
    """Whether this suppression stops an email of this kind."""
    return kind == TemplateKind.MARKETING or suppression.reason in BLOCKS_TRANSACTIONAL


def suppress(
    session: Session,
    *,
    email: str,
    reason: SuppressionReason,
    source: str,
    details: str | None = None,
    message_id: int | None = None,
) -> Suppression:
    """Suppress an address; an existing entry is kept, but a hard bounce outranks a complaint."""
    row = get_suppression(session, email=email)
    if row is None:
        row = Suppression(
            email=email.strip().lower(), reason=reason, source=source, details=details, message_id=message_id
        )
        session.add(row)
    elif reason in BLOCKS_TRANSACTIONAL and row.reason not in BLOCKS_TRANSACTIONAL:
        row.reason, row.source, row.details, row.message_id = reason, source, details, message_id
    session.flush()
    return row


def suppress_address(
    session: Session,
    *,
    email: str,
    reason: SuppressionReason,
    source: str,
    details: str | None = None,
    message_id: int | None = None,
) -> Suppression:
    """Suppress an address and give the contact with it the standing that goes with the reason."""
    row = suppress(session, email=email, reason=reason, source=source, details=details, message_id=message_id)
    contact = session.scalar(select(Contact).where(Contact.email == email.strip().lower()))
    if contact is not None and reason in CONTACT_STATUS:
        contact.status = CONTACT_STATUS[reason]
    session.flush()
    return row


def unsuppress(session: Session, *, suppression: Suppression) -> None:
    """Remove an address from the list; it can be emailed again."""
    session.delete(suppression)
    session.flush()


def filter_suppressions(
    *, reason: SuppressionReason | None = None, search: str | None = None
) -> Select[Suppression]:
    """A query for suppressions, optionally of one reason or with `search` in the address."""
    query = select(Suppression)
    if reason is not None:
        query = query.where(Suppression.reason == reason)
    if search:
        query = query.where(matches(search, Suppression.email))
    return query
