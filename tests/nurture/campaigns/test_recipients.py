"""Who a campaign goes to: subscribers of its lists, once each, without opt-outs or exclusions, narrowed
by field conditions; and, sent in each contact's time zone, when each is due."""

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.campaigns.audience import CampaignAudience
from nurture.campaigns.recipients import fix_recipients, recipient_waves
from nurture.campaigns.timezones import LocalTime
from nurture.crud.lists import create_list, set_subscription
from nurture.crud.suppressions import suppress
from nurture.crud.tags import add_tag
from nurture.crud.templates import create_template
from nurture.db.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    ContactStatus,
    SubscriptionStatus,
    SuppressionReason,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings

SUBSCRIBED, UNSUBSCRIBED = SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.UNSUBSCRIBED


def _campaign(session: Session, audience: CampaignAudience) -> int:
    template = create_template(
        session, name="News", kind=TemplateKind.MARKETING, subject="News", html_body="<p>News</p>"
    )
    session.flush()
    campaign = Campaign(name="November news", template_id=template.id, audience=audience.model_dump())
    session.add(campaign)
    session.flush()
    return campaign.id


def _contact(session: Session, email: str, *subscriptions: tuple[int, SubscriptionStatus]) -> int:
    contact = Contact(email=email)
    session.add(contact)
    session.flush()
    for list_id, status in subscriptions:
        set_subscription(session, list_id=list_id, contact_id=contact.id, status=status)
    return contact.id


def _recipients(session: Session, campaign_id: int) -> list[tuple[int, str, int | None]]:
    rows = session.execute(
        select(CampaignRecipient.position, Contact.email, CampaignRecipient.list_id)
        .join(Contact, Contact.id == CampaignRecipient.contact_id)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .order_by(CampaignRecipient.position)
    )
    return [(position, email, list_id) for position, email, list_id in rows]


def test_subscribers_of_any_list_once_each_without_opt_outs_suppressions_or_exclusions(
    settings: Settings,
) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        news = create_list(session, name="News").id
        offers = create_list(session, name="Offers").id
        staff = create_list(session, name="Staff").id
        _contact(session, "ada@example.com", (news, SUBSCRIBED))
        # In both audience lists: one email, sent for the lower-numbered list.
        _contact(session, "bob@example.com", (offers, SUBSCRIBED), (news, SUBSCRIBED))
        _contact(session, "cy@example.com", (offers, SUBSCRIBED))
        _contact(session, "left@example.com", (news, UNSUBSCRIBED))
        _contact(session, "staff@example.com", (news, SUBSCRIBED), (staff, SUBSCRIBED))
        _contact(session, "nolist@example.com")
        _contact(session, "bounced@example.com", (news, SUBSCRIBED))
        suppress(session, email="bounced@example.com", reason=SuppressionReason.HARD_BOUNCE, source="test")
        complained = session.get(Contact, _contact(session, "spam@example.com", (news, SUBSCRIBED)))
        assert complained is not None
        complained.status = ContactStatus.COMPLAINED
        audience = CampaignAudience(lists=[news, offers], exclude_lists=[staff])
        campaign_id = _campaign(session, audience)

        count = fix_recipients(session, campaign_id=campaign_id, audience=audience, shuffle=False)

        assert count == 3
        assert _recipients(session, campaign_id) == [
            (0, "ada@example.com", news),
            (1, "bob@example.com", news),
            (2, "cy@example.com", offers),
        ]
        # Fixed once: a later subscriber is not added by fixing again.
        _contact(session, "late@example.com", (news, SUBSCRIBED))
        assert fix_recipients(session, campaign_id=campaign_id, audience=audience, shuffle=False) == 3
        assert len(_recipients(session, campaign_id)) == 3


def test_tags_narrow_the_audience_and_a_shuffled_order_keeps_every_recipient_once(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        news = create_list(session, name="News").id
        emails = [f"c{i}@example.com" for i in range(40)]
        for i, email in enumerate(emails):
            contact_id = _contact(session, email, (news, SUBSCRIBED))
            contact = session.get(Contact, contact_id)
            assert contact is not None
            if i % 2 == 0:
                add_tag(session, contact=contact, name="Customer")
            if i % 4 == 0:
                add_tag(session, contact=contact, name="churned")
        audience = CampaignAudience(lists=[news], tags=["customer"], exclude_tags=["Churned"])
        campaign_id = _campaign(session, audience)

        count = fix_recipients(session, campaign_id=campaign_id, audience=audience, shuffle=True)

        picked = _recipients(session, campaign_id)
        assert count == 10
        assert [position for position, _, _ in picked] == list(range(10))
        assert sorted(email for _, email, _ in picked) == sorted(
            emails[i] for i in range(40) if i % 2 == 0 and i % 4 != 0
        )


def test_field_conditions_narrow_the_audience(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        news = create_list(session, name="News").id
        for email, plan, seats in [("pro@example.com", "pro", 12), ("team@example.com", "team", 3)]:
            contact = session.get(Contact, _contact(session, email, (news, SUBSCRIBED)))
            assert contact is not None
            contact.custom_fields = {"plan": plan, "seats": seats}
        _contact(session, "none@example.com", (news, SUBSCRIBED))
        audience = CampaignAudience.model_validate(
            {
                "lists": [news],
                "conditions": [
                    {"field": "plan", "op": "in", "value": ["pro", "team"]},
                    {"type": "field", "field": "seats", "op": "gte", "value": 5},
                ],
            }
        )
        campaign_id = _campaign(session, audience)

        count = fix_recipients(session, campaign_id=campaign_id, audience=audience, shuffle=False)

        assert count == 1
        assert [email for _, email, _ in _recipients(session, campaign_id)] == ["pro@example.com"]


def test_in_each_time_zone_recipients_are_due_at_their_local_time_in_waves(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        news = create_list(session, name="News").id
        zones = {
            "ny@example.com": "America/New_York",
            "tokyo@example.com": "Asia/Tokyo",
            "paris@example.com": "Europe/Paris",
            "nozone@example.com": None,
            "bad@example.com": "Mars/Olympus_Mons",
            "tokyo2@example.com": "Asia/Tokyo",
        }
        for email, zone in zones.items():
            contact = session.get(Contact, _contact(session, email, (news, SUBSCRIBED)))
            assert contact is not None
            contact.timezone = zone
        audience = CampaignAudience(lists=[news])
        campaign_id = _campaign(session, audience)
        # 09:00 in Paris (winter, UTC+1); Paris is also the zone of contacts without a valid one.
        local = LocalTime(datetime(2030, 1, 15, 8, 0, tzinfo=UTC), "Europe/Paris")

        count = fix_recipients(
            session, campaign_id=campaign_id, audience=audience, shuffle=False, local_time=local
        )

        due = dict(
            session.execute(
                select(Contact.email, CampaignRecipient.send_at)
                .join(Contact, Contact.id == CampaignRecipient.contact_id)
                .where(CampaignRecipient.campaign_id == campaign_id)
            ).all()
        )
        waves = recipient_waves(session, campaign_id=campaign_id)

    tokyo, paris, ny = (datetime(2030, 1, 15, h, 0, tzinfo=UTC) for h in (0, 8, 14))
    assert count == 6
    assert due == {
        "tokyo@example.com": tokyo,
        "tokyo2@example.com": tokyo,
        "paris@example.com": paris,
        "nozone@example.com": paris,
        "bad@example.com": paris,
        "ny@example.com": ny,
    }
    assert [(w.send_at, w.first, w.end) for w in waves] == [(tokyo, 0, 2), (paris, 2, 5), (ny, 5, 6)]
    # Sending starts when it is first 09:00 anywhere: in Kiritimati (UTC+14), at 19:00 UTC the day before.
    assert local.first() == datetime(2030, 1, 14, 19, 0, tzinfo=UTC)
