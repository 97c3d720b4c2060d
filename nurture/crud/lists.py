"""Lists and subscriptions; each change of standing lands on the contact's activity stream."""

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.crud.changes import apply_changes
from nurture.crud.search import matches
from nurture.db.base import utcnow
from nurture.db.models import Contact, ListSubscription, MailingList, SubscriptionStatus

# Columns a caller may change on a list.
LIST_FIELDS = ("name", "description")


def get_list(session: Session, *, list_id: int) -> MailingList | None:
    """The list with this id."""
    return session.get(MailingList, list_id)


def get_list_by_name(session: Session, *, name: str) -> MailingList | None:
    """The list with this name, ignoring case."""
    return session.scalar(select(MailingList).where(func.lower(MailingList.name) == name.strip().lower()))


def filter_lists(*, search: str | None = None) -> Select[MailingList]:
    """A query for lists whose name contains `search`, ignoring case."""
    query = select(MailingList)
    if search:
        query = query.where(matches(search, MailingList.name))
    return query


def create_list(session: Session, *, name: str, description: str | None = None) -> MailingList:
    """Insert a list."""
    mailing_list = MailingList(name=name.strip(), description=description)
    session.add(mailing_list)
    session.flush()
    return mailing_list


def update_list(session: Session, *, mailing_list: MailingList, changes: dict[str, Any]) -> list[str]:
    """Apply the changes given; returns the fields that changed."""
    changed = apply_changes(mailing_list, LIST_FIELDS, changes)
    session.flush()
    return changed


def delete_list(session: Session, *, mailing_list: MailingList) -> None:
    """Delete a list and its subscriptions; contacts stay, each with a `list.removed` event."""
    members = session.execute(
        select(ListSubscription.contact_id, ListSubscription.status).where(
            ListSubscription.list_id == mailing_list.id
        )
    )
    for contact_id, status in members:
        record_activity(
            session,
            contact_id=contact_id,
            type="list.removed",
            # The list is gone after this, so the event carries its name.
            data={
                "list_id": mailing_list.id,
                "list": mailing_list.name,
                "status": status.value,
                "reason": "list deleted",
            },
        )
    # The foreign key cascades the subscriptions away on both SQLite and PostgreSQL.
    session.delete(mailing_list)
    session.flush()


def subscription_counts(session: Session, *, list_ids: list[int]) -> dict[int, dict[SubscriptionStatus, int]]:
    """How many contacts each of these lists has in each status, zeros included."""
    counts = {list_id: dict.fromkeys(SubscriptionStatus, 0) for list_id in list_ids}
    rows = session.execute(
        select(ListSubscription.list_id, ListSubscription.status, func.count())
        .where(ListSubscription.list_id.in_(list_ids))
        .group_by(ListSubscription.list_id, ListSubscription.status)
    )
    for list_id, status, count in rows:
        counts[list_id][status] = count
    return counts


def get_subscription(session: Session, *, list_id: int, contact_id: int) -> ListSubscription | None:
    """A contact's subscription row on a list."""
    return session.scalar(
        select(ListSubscription).where(
            ListSubscription.list_id == list_id, ListSubscription.contact_id == contact_id
        )
    )


def filter_subscriptions(
    *, list_id: int, status: SubscriptionStatus | None = None
) -> Select[ListSubscription]:
    """A query for a list's subscriptions, optionally in one status."""
    query = select(ListSubscription).where(ListSubscription.list_id == list_id)
    if status:
        query = query.where(ListSubscription.status == status)
    return query


def subscriber_emails(session: Session, *, contact_ids: list[int]) -> dict[int, str]:
    """The email of each of these contacts, by contact id."""
    rows = session.execute(select(Contact.id, Contact.email).where(Contact.id.in_(contact_ids)))
    return {contact_id: email for contact_id, email in rows}


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


def remove_subscription(session: Session, *, subscription: ListSubscription) -> None:
    """Delete a subscription row, recording `list.removed` with the standing it had."""
    record_activity(
        session,
        contact_id=subscription.contact_id,
        type="list.removed",
        data={"list_id": subscription.list_id, "status": subscription.status.value},
    )
    session.delete(subscription)
    session.flush()
