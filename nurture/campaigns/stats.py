"""A campaign's numbers: what became of its recipients, and what they did with the email.

Counted in a few GROUP BY queries over `campaign_recipients` (and `message_events` joined through
each recipient's message), never recipient by recipient: a campaign has 100,000 recipients.
Engagement counts are unique per message, and a campaign sends one message per contact, so they
count contacts. Opens and clicks that look machine-made are counted apart from people's.
"""

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from nurture.db.models import Campaign, CampaignRecipient, EngagementType, MessageEvent, RecipientStatus

# Links reported per campaign, most clicked first: a URL carrying a per-contact value would
# otherwise make one entry per recipient.
MAX_LINKS = 100


class VariantStats(BaseModel):
    """One A/B variant's sample: its recipients, how many were sent, and how many people engaged."""

    variant: int
    recipients: int = 0
    sent: int = 0
    opens: int = Field(default=0, description="Sample recipients who opened it (people, not machines)")
    clicks: int = Field(default=0, description="Sample recipients who clicked a link in it (people)")


class CampaignStats(BaseModel):
    """What became of a campaign's recipients and what they did; zeros until the audience is fixed."""

    recipients: int = Field(default=0, description="The audience fixed when sending started")
    done: int = Field(default=0, description="Recipients no longer pending, whatever became of them")
    pending: int = 0
    sent: int = 0
    suppressed: int = 0
    failed: int = 0
    cancelled: int = 0
    delivered: int = 0
    opens: int = Field(default=0, description="Recipients who opened the email (people)")
    machine_opens: int = Field(
        default=0, description="Recipients whose email a machine opened (privacy proxy, scanner)"
    )
    clicks: int = Field(default=0, description="Recipients who clicked a link (people)")
    machine_clicks: int = Field(default=0, description="Recipients whose links a machine followed")
    links: dict[str, int] = Field(
        default_factory=dict,
        description=f"URL -> people who clicked it, most clicked first (top {MAX_LINKS})",
    )
    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    winner: int | None = Field(default=None, description="The A/B variant sent to the rest, once chosen")
    variants: list[VariantStats] = Field(default_factory=list, description="Each A/B variant's sample")


def _of_campaign(campaign_id: int) -> Any:
    return CampaignRecipient.campaign_id == campaign_id


def _recipient_counts(session: Session, campaign_id: int) -> dict[RecipientStatus, int]:
    rows = session.execute(
        select(CampaignRecipient.status, func.count())
        .where(_of_campaign(campaign_id))
        .group_by(CampaignRecipient.status)
    ).all()
    return {RecipientStatus(status): int(count) for status, count in rows}


def _engagement_counts(session: Session, campaign_id: int) -> dict[EngagementType, tuple[int, int, int]]:
    """Per event type: messages with any such event, with a person's, with a machine's."""

    def messages_where(condition: Any) -> Any:
        return func.count(distinct(case((condition, MessageEvent.message_id))))

    rows = session.execute(
        select(
            MessageEvent.type,
            func.count(distinct(MessageEvent.message_id)),
            messages_where(MessageEvent.machine.is_(False)),
            messages_where(MessageEvent.machine.is_(True)),
        )
        .join(CampaignRecipient, CampaignRecipient.message_id == MessageEvent.message_id)
        .where(_of_campaign(campaign_id))
        .group_by(MessageEvent.type)
    ).all()
    return {EngagementType(kind): (int(a), int(p), int(m)) for kind, a, p, m in rows}


def _link_clicks(session: Session, campaign_id: int) -> dict[str, int]:
    clickers = func.count(distinct(MessageEvent.message_id))
    rows = session.execute(
        select(MessageEvent.url, clickers)
        .join(CampaignRecipient, CampaignRecipient.message_id == MessageEvent.message_id)
        .where(
            _of_campaign(campaign_id),
            MessageEvent.type == EngagementType.CLICKED,
            MessageEvent.machine.is_(False),
            MessageEvent.url.is_not(None),
        )
        .group_by(MessageEvent.url)
        .order_by(clickers.desc(), MessageEvent.url)
        .limit(MAX_LINKS)
    ).all()
    return {str(url): int(count) for url, count in rows}


def _variant_stats(session: Session, campaign_id: int, variants: int) -> list[VariantStats]:
    stats = [VariantStats(variant=v) for v in range(variants)]
    in_sample = and_(_of_campaign(campaign_id), CampaignRecipient.in_sample.is_(True))
    sent = func.count(case((CampaignRecipient.status == RecipientStatus.SENT, 1)))
    for variant, recipients, sent_count in session.execute(
        select(CampaignRecipient.variant, func.count(), sent)
        .where(in_sample)
        .group_by(CampaignRecipient.variant)
    ):
        if variant is not None and 0 <= variant < variants:
            stats[variant].recipients, stats[variant].sent = int(recipients), int(sent_count)
    for variant, kind, people in session.execute(
        select(CampaignRecipient.variant, MessageEvent.type, func.count(distinct(MessageEvent.message_id)))
        .join(
            MessageEvent,
            and_(
                MessageEvent.message_id == CampaignRecipient.message_id,
                MessageEvent.type.in_([EngagementType.OPENED, EngagementType.CLICKED]),
                MessageEvent.machine.is_(False),
            ),
        )
        .where(in_sample)
        .group_by(CampaignRecipient.variant, MessageEvent.type)
    ):
        if variant is not None and 0 <= variant < variants:
            if EngagementType(kind) == EngagementType.OPENED:
                stats[variant].opens = int(people)
            else:
                stats[variant].clicks = int(people)
    return stats


def campaign_stats(session: Session, *, campaign_id: int) -> CampaignStats | None:
    """The campaign's recipients by outcome and their engagement, or None if there is no such campaign.

    Args:
        session: where the campaign, its recipients and their messages' events are read.
        campaign_id: the campaign.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    by_status = _recipient_counts(session, campaign_id)
    events = _engagement_counts(session, campaign_id)

    def anyone(kind: EngagementType) -> int:
        return events.get(kind, (0, 0, 0))[0]

    opened = events.get(EngagementType.OPENED, (0, 0, 0))
    clicked = events.get(EngagementType.CLICKED, (0, 0, 0))
    recipients = sum(by_status.values())
    pending = by_status.get(RecipientStatus.PENDING, 0)
    variants = len((campaign.ab_test or {}).get("variants") or [])
    return CampaignStats(
        recipients=recipients,
        done=recipients - pending,
        pending=pending,
        sent=by_status.get(RecipientStatus.SENT, 0),
        suppressed=by_status.get(RecipientStatus.SUPPRESSED, 0),
        failed=by_status.get(RecipientStatus.FAILED, 0),
        cancelled=by_status.get(RecipientStatus.CANCELLED, 0),
        delivered=anyone(EngagementType.DELIVERED),
        opens=opened[1],
        machine_opens=opened[2],
        clicks=clicked[1],
        machine_clicks=clicked[2],
        links=_link_clicks(session, campaign_id) if clicked[1] else {},
        bounces=anyone(EngagementType.BOUNCED),
        complaints=anyone(EngagementType.COMPLAINED),
        unsubscribes=anyone(EngagementType.UNSUBSCRIBED),
        winner=campaign.winner,
        variants=_variant_stats(session, campaign_id, variants) if variants else [],
    )
