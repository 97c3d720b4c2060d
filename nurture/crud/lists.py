"""Lists and subscriptions; each change of standing lands on the contact's activity stream."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.db.base import utcnow
from nurture.db.models import ListSubscription, MailingList, SubscriptionStatus


def get_list(session: Session, *, list_id: int) -> MailingList | None:
    """The list with this id."""
    return session.get(MailingList, list_id)


def get_subscription(session: Session, *, list_id: int, contact_id: int) -> ListSubscription | None:
    """A contact's subscription row on a list."""
    return session.scalar(
        select(ListSubscription).where(
            ListSubscription.list_id == list_id, ListSubscription.contact_id == contact_id
        )
    )


def set_subscription(
    session: Session,
    *,
    list_id: int,
    contact_id: int,
    status: SubscriptionStatus,
    consent_source: str | None = None,
    consent_ip: str | None = None,
    consent_at: datetime | None = None,
) -> ListSubscription:
    """Create or change a contact's subscription; consent evidence is kept from when it was given."""
    now = utcnow()
    row = get_subscription(session, list_id=list_id, contact_id=contact_id)
    previous = row.status if row is not None else None
    if row is None:
        row = ListSubscription(list_id=list_id, contact_id=contact_id, status=status)
        session.add(row)
    row.status = status
    if status == SubscriptionStatus.SUBSCRIBED and previous != SubscriptionStatus.SUBSCRIBED:
        row.consent_source = consent_source
        row.consent_ip = consent_ip
        row.consent_at = consent_at or now
        row.unsubscribed_at = None
    elif status == SubscriptionStatus.PENDING and previous is None:
        row.consent_source = consent_source
        row.consent_ip = consent_ip
    elif status == SubscriptionStatus.UNSUBSCRIBED and previous != SubscriptionStatus.UNSUBSCRIBED:
        row.unsubscribed_at = now
    if previous != status:
        record_activity(
            session,
            contact_id=contact_id,
            type=f"list.{status.value}",
            data={"list_id": list_id, "source": consent_source},
        )
    session.flush()
    return row
