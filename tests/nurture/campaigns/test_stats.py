"""A campaign's numbers, from recipients, messages and events written straight into the database:
recipients by outcome, unique engagement with machine opens and clicks apart, links, and A/B samples."""

from typing import Any

from sqlalchemy.orm import Session

from nurture.campaigns.stats import CampaignStats, VariantStats, campaign_stats
from nurture.crud.templates import create_template
from nurture.db.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    EngagementType,
    Message,
    MessageEvent,
    MessageStatus,
    RecipientStatus,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings

OPENED, CLICKED = EngagementType.OPENED, EngagementType.CLICKED
SENT, SUPPRESSED, FAILED = RecipientStatus.SENT, RecipientStatus.SUPPRESSED, RecipientStatus.FAILED
PENDING, CANCELLED = RecipientStatus.PENDING, RecipientStatus.CANCELLED
AB_TEST = {
    "variants": [{"subject": "Plain"}, {"subject": "Curious?"}],
    "sample_percent": 40,
    "wait": "4h",
    "metric": "opens",
}


class Builder:
    """Campaigns, their recipients and their messages' events, written directly."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.template = create_template(
            session, name="News", kind=TemplateKind.MARKETING, subject="News", html_body="<p>News</p>"
        ).id
        self.contacts = 0

    def campaign(self, **fields: Any) -> int:
        campaign = Campaign(
            name="November news", template_id=self.template, audience={"lists": [1]}, **fields
        )
        self.session.add(campaign)
        self.session.flush()
        return campaign.id

    def recipients(
        self, campaign_id: int, statuses: list[RecipientStatus], sample: int = 0
    ) -> list[int | None]:
        """One recipient per status at positions 0.., the first `sample` in the A/B sample (variant
        position % 2); the message ids of those not pending or cancelled (None for the others)."""
        message_ids: list[int | None] = []
        for position, status in enumerate(statuses):
            self.contacts += 1
            contact = Contact(email=f"c{self.contacts}@example.com")
            self.session.add(contact)
            self.session.flush()
            message_id = None
            if status in (SENT, SUPPRESSED, FAILED):
                message = Message(
                    key=f"campaign:{campaign_id}:contact:{contact.id}",
                    kind=TemplateKind.MARKETING,
                    provider="postmark",
                    stream="broadcast",
                    contact_id=contact.id,
                    to_email=contact.email,
                    from_email="hello@example.com",
                    subject="News",
                    status=MessageStatus(status.value),
                )
                self.session.add(message)
                self.session.flush()
                message_id = message.id
            self.session.add(
                CampaignRecipient(
                    campaign_id=campaign_id,
                    position=position,
                    contact_id=contact.id,
                    status=status,
                    message_id=message_id,
                    in_sample=position < sample,
                    variant=position % 2 if position < sample else None,
                )
            )
            message_ids.append(message_id)
        self.session.flush()
        return message_ids

    def event(
        self, message_id: int | None, type: EngagementType, *, machine: bool = False, url: str | None = None
    ) -> None:
        assert message_id is not None
        self.session.add(
            MessageEvent(message_id=message_id, type=type, machine=machine, url=url, source="test")
        )


def test_every_number_counts_each_recipient_once_with_machines_apart(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        build = Builder(session)
        campaign_id = build.campaign(ab_test=AB_TEST, winner=1)
        m = build.recipients(
            campaign_id,
            [SENT, SENT, SENT, SENT, SENT, SENT, SUPPRESSED, FAILED, PENDING, CANCELLED],
            sample=4,
        )
        # Delivered: five messages, one of them reported twice.
        for i in (0, 0, 1, 2, 3, 4):
            build.event(m[i], EngagementType.DELIVERED)
        # People opened 0 (twice), 1 and 2; machines opened 2 (a person did too), 3 and 4.
        for i in (0, 0, 1, 2):
            build.event(m[i], OPENED)
        for i in (2, 3, 4):
            build.event(m[i], OPENED, machine=True)
        # People clicked: 0 on A twice and on B, 1 on A. Machines followed A in 3 and C in 5.
        a, b, c = "https://example.com/a", "https://example.com/b", "https://example.com/c"
        for i, url in [(0, a), (0, a), (0, b), (1, a)]:
            build.event(m[i], CLICKED, url=url)
        build.event(m[3], CLICKED, machine=True, url=a)
        build.event(m[5], CLICKED, machine=True, url=c)
        build.event(m[5], EngagementType.BOUNCED)
        build.event(m[4], EngagementType.COMPLAINED)
        build.event(m[1], EngagementType.UNSUBSCRIBED)
        build.event(m[1], EngagementType.UNSUBSCRIBED)
        # Another campaign's engagement is not this one's.
        other = build.campaign()
        (n,) = build.recipients(other, [SENT])
        for type in (EngagementType.DELIVERED, OPENED, CLICKED, EngagementType.BOUNCED):
            build.event(n, type, url=a if type == CLICKED else None)

    with session_factory(settings.resolved_database_url)() as session:
        stats = campaign_stats(session, campaign_id=campaign_id)

    assert stats == CampaignStats(
        recipients=10,
        done=9,
        pending=1,
        sent=6,
        suppressed=1,
        failed=1,
        cancelled=1,
        delivered=5,
        opens=3,
        machine_opens=3,
        clicks=2,
        machine_clicks=2,
        links={a: 2, b: 1},
        bounces=1,
        complaints=1,
        unsubscribes=1,
        winner=1,
        # Sample: variant 0 is positions 0 and 2, variant 1 is 1 and 3 (3 only opened by a machine).
        variants=[
            VariantStats(variant=0, recipients=2, sent=2, opens=2, clicks=1),
            VariantStats(variant=1, recipients=2, sent=2, opens=1, clicks=1),
        ],
    )
    assert list(stats.links) == [a, b]  # most clicked first


def test_a_campaign_not_sent_yet_has_zeros_and_an_unknown_one_has_none(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        build = Builder(session)
        draft = build.campaign()
        testing = build.campaign(ab_test=AB_TEST)

    with session_factory(settings.resolved_database_url)() as session:
        assert campaign_stats(session, campaign_id=draft) == CampaignStats()
        assert campaign_stats(session, campaign_id=testing) == CampaignStats(
            variants=[VariantStats(variant=0), VariantStats(variant=1)]
        )
        assert campaign_stats(session, campaign_id=testing + 1) is None
