"""CampaignActivities: fixing a campaign's audience, choosing its A/B winner, recording its end."""

import math

from sqlalchemy import and_, distinct, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from nurture.automations.durations import parse_duration
from nurture.campaigns.audience import CampaignAudience
from nurture.campaigns.recipients import fix_recipients, recipient_waves
from nurture.campaigns.sending import CampaignFinish, CampaignPlan
from nurture.campaigns.timezones import LocalTime
from nurture.db.base import utcnow
from nurture.db.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    EngagementType,
    MessageEvent,
    RecipientStatus,
)
from nurture.db.session import transaction


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise ApplicationError(f"campaign {campaign_id} does not exist", non_retryable=True)
    return campaign


class CampaignActivities:
    """Activities of campaign runs on the main task queue; built once per worker around the database."""

    def __init__(self, *, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name="fix_campaign_audience")
    def fix_campaign_audience(self, campaign_id: int) -> CampaignPlan:
        """Fix the recipients (once: a retry finds them written), mark the campaign sending, and
        say how the send is cut: the A/B sample (variants dealt in turn) and the rest, or the
        waves of recipients due together in their time zones."""
        with transaction(self._sessions) as session:
            campaign = _campaign(session, campaign_id)
            ab = campaign.ab_test or {}
            variants = len(ab.get("variants") or [])
            # The API refuses an A/B test in each contact's time zone; the test wins if one slips by.
            local_time = None
            if campaign.in_contact_timezone and campaign.scheduled_at is not None and not variants:
                local_time = LocalTime(campaign.scheduled_at, campaign.timezone)
            count = fix_recipients(
                session,
                campaign_id=campaign_id,
                audience=CampaignAudience.model_validate(campaign.audience),
                shuffle=variants > 0,
                local_time=local_time,
            )
            sample = 0
            if variants:
                sample = min(count, max(variants, math.ceil(count * ab["sample_percent"] / 100)))
                session.execute(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.position < sample)
                    .values(variant=CampaignRecipient.position % variants, in_sample=True)
                )
            now = utcnow()
            if campaign.audience_fixed_at is None:
                campaign.audience_fixed_at = campaign.started_at = now
            campaign.recipients = count
            if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
                campaign.status = CampaignStatus.SENDING
            wait = parse_duration(ab["wait"]).total_seconds() if variants else 0
            return CampaignPlan(
                recipients=count,
                sample=sample,
                variants=variants,
                wait_seconds=wait,
                send_rate=campaign.send_rate,
                waves=recipient_waves(session, campaign_id=campaign_id) if local_time else [],
            )

    @activity.defn(name="choose_campaign_winner")
    def choose_campaign_winner(self, campaign_id: int) -> int:
        """The variant whose sample had the most unique opens (or clicks), machine opens apart;
        the first on a tie. Recorded on the campaign."""
        with transaction(self._sessions) as session:
            campaign = _campaign(session, campaign_id)
            if campaign.winner is not None:
                return campaign.winner
            ab = campaign.ab_test or {}
            metric = EngagementType.CLICKED if ab.get("metric") == "clicks" else EngagementType.OPENED
            engaged = dict(
                session.execute(
                    select(CampaignRecipient.variant, func.count(distinct(MessageEvent.message_id)))
                    .join(
                        MessageEvent,
                        and_(
                            MessageEvent.message_id == CampaignRecipient.message_id,
                            MessageEvent.type == metric,
                            MessageEvent.machine.is_(False),
                        ),
                    )
                    .where(
                        CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.in_sample.is_(True)
                    )
                    .group_by(CampaignRecipient.variant)
                ).all()
            )
            variants = range(len(ab.get("variants") or []))
            winner = max(variants, key=lambda v: (engaged.get(v, 0), -v))
            campaign.winner = winner
            return winner

    @activity.defn(name="finish_campaign")
    def finish_campaign(self, finish: CampaignFinish) -> None:
        """Record how the campaign ended; a cancelled one's unsent recipients are marked cancelled."""
        with transaction(self._sessions) as session:
            campaign = _campaign(session, finish.campaign_id)
            campaign.status = CampaignStatus(finish.status)
            campaign.finished_at = campaign.finished_at or utcnow()
            campaign.reason = finish.reason
            if campaign.status == CampaignStatus.CANCELLED:
                session.execute(
                    update(CampaignRecipient)
                    .where(
                        CampaignRecipient.campaign_id == finish.campaign_id,
                        CampaignRecipient.status == RecipientStatus.PENDING,
                    )
                    .values(status=RecipientStatus.CANCELLED)
                )
