"""Unsubscribe a contact from one list or from all marketing email, as links and webhooks ask."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.crud.lists import set_subscription
from nurture.db.models import Contact, ContactStatus, ListSubscription, SubscriptionStatus


def unsubscribe(session: Session, *, contact: Contact, list_id: int | None, source: str) -> list[str]:
    """Leave one list, or with `list_id=None` all marketing email; repeating it changes nothing.

    Leaving all marketing email sets an active contact's status to `unsubscribed` (a bounced or
    complained contact keeps that stronger status) and unsubscribes every subscription. Each
    change lands on the contact's activity stream with `source`.

    Returns:
        The activity types recorded, in order (`contact.unsubscribed`, `list.unsubscribed`);
        empty when the contact was already unsubscribed.
    """
    recorded: list[str] = []
    if list_id is None:
        if contact.status == ContactStatus.ACTIVE:
            contact.status = ContactStatus.UNSUBSCRIBED
            record_activity(
                session, contact_id=contact.id, type="contact.unsubscribed", data={"source": source}
            )
            recorded.append("contact.unsubscribed")
        list_ids = list(
            session.scalars(
                select(ListSubscription.list_id)
                .where(
                    ListSubscription.contact_id == contact.id,
                    ListSubscription.status != SubscriptionStatus.UNSUBSCRIBED,
                )
                .order_by(ListSubscription.list_id)
            )
        )
    else:
        list_ids = [list_id]
    for each in list_ids:
        row = session.scalar(
            select(ListSubscription).where(
                ListSubscription.list_id == each, ListSubscription.contact_id == contact.id
            )
        )
        if row is not None and row.status == SubscriptionStatus.UNSUBSCRIBED:
            continue
        # A contact mailed for a list it was never on still gets an unsubscribed row: the opt-out
        # is then on record if someone later adds it to that list.
        set_subscription(
            session,
            list_id=each,
            contact_id=contact.id,
            status=SubscriptionStatus.UNSUBSCRIBED,
            consent_source=source,
        )
        recorded.append("list.unsubscribed")
    session.flush()
    session.expire(contact, ["subscriptions"])
    return recorded
