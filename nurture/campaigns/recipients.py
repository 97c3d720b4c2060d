"""Fixing a campaign's recipients when sending starts: one set-based INSERT ... SELECT.

The audience is fixed once, at the start of sending: contacts who subscribe later do not get
the campaign, and each recipient is checked again just before its batch is sent (an opt-out in
between is honoured). A contact in several audience lists is one recipient, sent for the
lowest-numbered of those lists (its unsubscribe link leaves that list).

Sent in each contact's time zone, every recipient is also given the moment it is due (`send_at`),
and positions follow that moment: each wave of recipients due together is one range of positions.
"""

from datetime import datetime

from sqlalchemy import and_, case, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from nurture.campaigns.audience import CampaignAudience
from nurture.campaigns.condition_sql import conditions_clause
from nurture.campaigns.sending import Wave
from nurture.campaigns.timezones import LocalTime
from nurture.db.base import UTCDateTime
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
    """Contact id, time zone and the audience list it is sent for, of every eligible contact, once each."""
    sent_for = (
        select(func.min(ListSubscription.list_id)).where(_subscribed_to(audience.lists)).scalar_subquery()
    )
    query = select(Contact.id.label("contact_id"), sent_for.label("list_id"), Contact.timezone).where(
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
    if audience.conditions:
        query = query.where(conditions_clause(audience.conditions))
    return query


def fix_recipients(
    session: Session,
    *,
    campaign_id: int,
    audience: CampaignAudience,
    shuffle: bool,
    local_time: LocalTime | None = None,
) -> int:
    """Write the campaign's recipients at positions 0..n-1 and return n; only if none are written yet.

    Positions follow contact ids, or a random order when `shuffle` (an A/B test samples the
    first positions). With `local_time`, each recipient is due when that time comes in its own
    zone, and positions follow that moment first.
    """
    already = session.scalar(
        select(func.count())
        .select_from(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id)
    )
    if already:
        return int(already)
    eligible = audience_query(audience).subquery()
    order = [func.random() if shuffle else eligible.c.contact_id]
    send_at = _send_at(session, eligible, local_time) if local_time else literal(None, UTCDateTime)
    if local_time:
        order.insert(0, send_at)
    numbered = select(
        literal(campaign_id).label("campaign_id"),
        (func.row_number().over(order_by=order) - 1).label("position"),
        eligible.c.contact_id,
        eligible.c.list_id,
        literal(False).label("in_sample"),
        literal(RecipientStatus.PENDING.value).label("status"),
        send_at.label("send_at"),
    )
    session.execute(
        insert(CampaignRecipient).from_select(
            ["campaign_id", "position", "contact_id", "list_id", "in_sample", "status", "send_at"], numbered
        )
    )
    return _count(session, campaign_id)


def _send_at(session: Session, eligible, local_time: LocalTime):  # type: ignore[no-untyped-def]
    """When each eligible contact is due: one CASE over the few zones the audience holds."""
    zones = session.scalars(select(eligible.c.timezone).where(eligible.c.timezone.is_not(None)).distinct())
    due: dict[str, datetime] = {name: local_time.at(name) for name in zones}
    fallback = literal(local_time.fallback, UTCDateTime)
    if not due:
        return fallback
    return case(
        {name: literal(moment, UTCDateTime) for name, moment in sorted(due.items())},
        value=eligible.c.timezone,
        else_=fallback,
    )


def recipient_waves(session: Session, *, campaign_id: int) -> list[Wave]:
    """The campaign's recipients by the moment they are due, earliest first, each a range of positions."""
    rows = session.execute(
        select(
            CampaignRecipient.send_at,
            func.min(CampaignRecipient.position),
            func.max(CampaignRecipient.position) + 1,
        )
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.send_at.is_not(None))
        .group_by(CampaignRecipient.send_at)
        .order_by(CampaignRecipient.send_at)
    ).all()
    return [Wave(send_at=send_at, first=first, end=end) for send_at, first, end in rows if send_at]


def _count(session: Session, campaign_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
        )
        or 0
    )
