"""Who may receive which email, for one recipient: the send pipeline's rules (reserve.Standing)."""

from sqlalchemy.orm import Session

from nurture.db.models import Contact
from nurture.email.reserve import Standing
from nurture.schemas.email import TemplateKind


def recipient_suppressed(session: Session, *, email: str, kind: TemplateKind) -> str | None:
    """Why this address must not get this kind of email because of the suppression list, or None."""
    standing = Standing.read(session, emails=[email], contact_ids=[], list_ids=[])
    return standing.recipient_suppressed(email=email, kind=kind)


def ineligible_reason(
    session: Session, *, contact: Contact, kind: TemplateKind, list_id: int | None
) -> str | None:
    """Why this contact must not get this email, or None if it may.

    Marketing email needs an active contact that is not suppressed and, when it is sent for a
    list, subscribed to that list. Transactional email ignores marketing opt-outs but not hard
    bounces or manual suppressions.
    """
    lists = [list_id] if list_id is not None else []
    standing = Standing.read(session, emails=[contact.email], contact_ids=[contact.id], list_ids=lists)
    return standing.ineligible_reason(contact=contact, kind=kind, list_id=list_id)
