"""The suppression list: who must not be emailed, and which kinds of email that blocks."""

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.crud.search import matches
from nurture.db.models import (
    ActivityEvent,
    Contact,
    ContactStatus,
    Suppression,
    SuppressionReason,
    TemplateKind,
)

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
    """Suppress an address and give the contact with it the standing of the suppression that
    stands (a hard bounce outranks a later complaint, whatever order they are handled in)."""
    row = suppress(session, email=email, reason=reason, source=source, details=details, message_id=message_id)
    contact = session.scalar(select(Contact).where(Contact.email == email.strip().lower()))
    standing = row.reason if row.reason in CONTACT_STATUS else reason
    if contact is not None and standing in CONTACT_STATUS:
        contact.status = CONTACT_STATUS[standing]
    session.flush()
    return row


def unsuppress(session: Session, *, suppression: Suppression) -> None:
    """Remove an address from the list; it can be emailed again."""
    session.delete(suppression)
    session.flush()


def lift_suppression(session: Session, *, suppression: Suppression, source: str = "api") -> None:
    """Remove an address from the list and give back the standing the suppression took from its contact.

    A contact that is `bounced` by a hard bounce (or `complained` by a spam complaint) is
    reactivated, with a `contact.reactivated` activity: active again, or unsubscribed if it had
    left all marketing email before the suppression overwrote that status. Any other status,
    `unsubscribed` above all, was not this suppression's doing and stays.

    Args:
        session: The caller's session; the caller commits.
        suppression: The row to remove.
        source: Who lifted it, recorded on the activity ("api", "postmark").
    """
    email, reason, origin = suppression.email, suppression.reason, suppression.source
    unsuppress(session, suppression=suppression)
    contact = session.scalar(select(Contact).where(Contact.email == email))
    if contact is None or reason not in CONTACT_STATUS or contact.status != CONTACT_STATUS[reason]:
        return
    contact.status = _standing_before_suppression(session, contact_id=contact.id)
    record_activity(
        session,
        contact_id=contact.id,
        type="contact.reactivated",
        data={
            "source": source,
            "status": contact.status.value,
            "suppression_reason": reason.value,
            "suppression_source": origin,
        },
    )
    session.flush()


def _standing_before_suppression(session: Session, *, contact_id: int) -> ContactStatus:
    # A suppression overwrites `unsubscribed`; the activity stream remembers it. Mailing someone
    # who opted out is the worse mistake, so a `contact.unsubscribed` wins unless an operator set
    # the status since (`contact.updated` of "status") or an earlier lift already decided.
    latest = session.scalars(
        select(ActivityEvent)
        .where(
            ActivityEvent.contact_id == contact_id,
            ActivityEvent.type.in_(["contact.unsubscribed", "contact.updated", "contact.reactivated"]),
        )
        .order_by(ActivityEvent.id.desc())
    )
    for event in latest:
        if event.type == "contact.unsubscribed":
            return ContactStatus.UNSUBSCRIBED
        if event.type == "contact.reactivated":
            return ContactStatus(event.data.get("status", ContactStatus.ACTIVE))
        if "status" in (event.data or {}).get("fields", []):
            return ContactStatus.ACTIVE
    return ContactStatus.ACTIVE


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
