"""Who may receive which email: suppressions, the contact's standing, and list consent."""

from sqlalchemy.orm import Session

from nurture.crud.lists import get_subscription
from nurture.crud.suppressions import blocks, get_suppression
from nurture.db.models import Contact, ContactStatus, SubscriptionStatus
from nurture.schemas.email import TemplateKind


def recipient_suppressed(session: Session, *, email: str, kind: TemplateKind) -> str | None:
    """Why this address must not get this kind of email because of the suppression list, or None."""
    suppression = get_suppression(session, email=email)
    if suppression is not None and blocks(suppression, kind=kind):
        return f"{email} is on the suppression list ({suppression.reason.value})"
    return None


def ineligible_reason(
    session: Session, *, contact: Contact, kind: TemplateKind, list_id: int | None
) -> str | None:
    """Why this contact must not get this email, or None if it may.

    Marketing email needs an active contact that is not suppressed and, when it is sent for a
    list, subscribed to that list. Transactional email ignores marketing opt-outs but not hard
    bounces or manual suppressions.
    """
    suppressed = recipient_suppressed(session, email=contact.email, kind=kind)
    if suppressed is not None:
        return suppressed
    if kind == TemplateKind.TRANSACTIONAL:
        if contact.status == ContactStatus.BOUNCED:
            return "the contact's address has hard-bounced"
        return None
    if contact.status != ContactStatus.ACTIVE:
        return f"the contact is {contact.status.value}"
    if list_id is not None:
        subscription = get_subscription(session, list_id=list_id, contact_id=contact.id)
        if subscription is None or subscription.status != SubscriptionStatus.SUBSCRIBED:
            standing = subscription.status.value if subscription else "not on the list"
            return f"the contact is not subscribed to list {list_id} ({standing})"
    return None
