"""Fixing a campaign's recipients when sending starts: one set-based INSERT ... SELECT.

The audience is fixed once, at the start of sending: contacts who subscribe later do not get
the campaign, and each recipient is checked again just before its batch is sent (an opt-out in
between is honoured). A contact in several audience lists is one recipient, sent for the
lowest-numbered of those lists (its unsubscribe link leaves that list).
"""

from sqlalchemy import and_, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from nurture.campaigns.audience import CampaignAudience
from nurture.db.models import (
    CampaignRecipient,
    Contact,
    ContactStatus,
    ContactTag,
    ListSubscription,
    RecipientStatus,
    SubscriptionStatus,
    Suppression,
    Tag,
)


def _subscribed_to(list_ids: list[int]):  # type: ignore[no-untyped-def]
    return and_(
        ListSubscription.contact_id == Contact.id,
        ListSubscription.list_id.in_(list_ids),
        ListSubscription.status == SubscriptionStatus.SUBSCRIBED,
    )


def _tagged(name: str):  # type: ignore[no-untyped-def]
    return exists().where(
        ContactTag.contact_id == Contact.id,
        ContactTag.tag_id == Tag.id,
        func.lower(Tag.name) == name.strip().lower(),
    )


def audience_query(audience: CampaignAudience):  # type: ignore[no-untyped-def]
    """Contact id and the audience list it is sent for, of every eligible contact, once each."""
    sent_for = (
        select(func.min(ListSubscription.list_id)).where(_subscribed_to(audience.lists)).scalar_subquery()
    )
    query = select(Contact.id.label("contact_id"), sent_for.label("list_id")).where(
        Contact.status == ContactStatus.ACTIVE,
        exists().where(_subscribed_to(audience.lists)),
        ~exists().where(Suppression.email == Contact.email),
    )
    if audience.exclude_lists:
        query = query.where(~exists().where(_subscribed_to(audience.exclude_lists)))
    for name in audience.tags:
        query = query.where(_tagged(name))
    for name in audience.exclude_tags:
        query = query.where(~_tagged(name))
    return query


def fix_recipients(session: Session, *, campaign_id: int, audience: CampaignAudience, shuffle: bool) -> int:
    """Write the campaign's recipients at positions 0..n-1 and return n; only if none are written yet.

    Positions follow contact ids, or a random order when `shuffle` (an A/B test samples the
    first positions).
    """
    already = session.scalar(
        select(func.count())
        .select_from(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id)
    )
    if already:
        return int(already)
    eligible = audience_query(audience).subquery()
    order = func.random() if shuffle else eligible.c.contact_id
    numbered = select(
        literal(campaign_id).label("campaign_id"),
        (func.row_number().over(order_by=order) - 1).label("position"),
        eligible.c.contact_id,
        eligible.c.list_id,
        literal(False).label("in_sample"),
        literal(RecipientStatus.PENDING.value).label("status"),
    )
    session.execute(
        insert(CampaignRecipient).from_select(
            ["campaign_id", "position", "contact_id", "list_id", "in_sample", "status"], numbered
        )
    )
    return _count(session, campaign_id)


def _count(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
        )
        or 0
    )
