"""The send pipeline against the real database and the local Postmark-compatible server:
what arrives, what the ledger says, and exactly-once under every failure Postmark can give."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from nurture.crud.lists import create_list, set_subscription
from nurture.crud.suppressions import get_suppression, suppress
from nurture.crud.templates import create_template
from nurture.db.models import (
    ActivityEvent,
    Contact,
    ContactStatus,
    Message,
    SubscriptionStatus,
    SuppressionReason,
)
from nurture.db.session import session_factory, transaction
from nurture.email.pipeline import SendDeferred
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY, MessageStatus, SendRequest, TemplateKind
from nurture.settings import Settings
from tests.nurture.email.sending import Sending, pipeline_for, sending_settings

HTML = """<html><body>
<p>Hi {{ contact.first_name }}, your plan is {{ contact.plan }}.</p>
<p><a href="https://example.com/pricing?x=1&amp;y=2">See pricing</a> for {{ model.offer }}.</p>
</body></html>"""


@dataclass
class World(Sending):
    contact_id: int
    marketing_id: int
    transactional_id: int
    list_id: int

    def send(self, key: str, *, template_id: int | None = None, **changes: object) -> MessageStatus:
        request = SendRequest(
            key=key,
            template_id=template_id or self.marketing_id,
            contact_id=self.contact_id,
            model={"offer": "20% off"},
            **changes,
        )
        return self.pipeline.send(request).status


@pytest.fixture
def world(settings: Settings, postmark_server: RunningServer) -> Iterator[World]:
    settings = sending_settings(settings, postmark_server)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="ada@example.com", first_name="Ada", custom_fields={"plan": "pro"})
        session.add(contact)
        newsletter = create_list(session, name="Newsletter")
        session.flush()
        set_subscription(
            session, list_id=newsletter.id, contact_id=contact.id, status=SubscriptionStatus.SUBSCRIBED
        )
        marketing = create_template(
            session,
            name="Offer",
            kind=TemplateKind.MARKETING,
            subject="An offer, {{ contact.first_name }}",
            html_body=HTML,
        )
        transactional = create_template(
            session,
            name="Reset",
            kind=TemplateKind.TRANSACTIONAL,
            subject="Reset your password",
            html_body="<p>Reset with code {{ model.offer }}</p>",
        )
        ids = contact.id, marketing.id, transactional.id, newsletter.id
    yield World(settings, pipeline_for(settings), postmark_server, *ids)


def test_a_marketing_email_arrives_once_with_stream_headers_tracking_and_metadata(world: World) -> None:
    assert world.send("offer:1", list_id=world.list_id) == MessageStatus.SENT

    [email] = world.arrived("offer:1")
    assert email["MessageStream"] == "broadcast"
    assert email["Subject"] == "An offer, Ada"
    assert email["Metadata"] == {METADATA_KEY: "offer:1"}
    headers = {h["Name"]: h["Value"] for h in email["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://nurture.example.com/u/")
    html = email["HtmlBody"]
    assert "your plan is pro" in html and "20% off" in html
    # The link goes through a signed click token; the target is kept server-side.
    assert "https://example.com/pricing" not in html and "https://nurture.example.com/t/c/" in html
    assert "https://nurture.example.com/t/o/" in html, "no open pixel"
    assert "Unsubscribe" in html and headers["List-Unsubscribe"][1:-1] in html
    assert "/u/" in email["TextBody"]

    message = world.message("offer:1")
    assert message.status == MessageStatus.SENT and message.provider_message_id == email["MessageID"]
    with session_factory(world.settings.resolved_database_url)() as session:
        stored = session.get(Message, message.id)
        assert stored is not None and stored.link_urls == ["https://example.com/pricing?x=1&y=2"]
        events = session.scalars(
            select(ActivityEvent.type).where(ActivityEvent.contact_id == world.contact_id)
        )
        assert "email.sent" in list(events)

    # The same key again: nothing more is sent, the same answer comes back.
    assert world.send("offer:1", list_id=world.list_id) == MessageStatus.SENT
    assert len(world.arrived("offer:1")) == 1


def test_transactional_email_goes_on_outbound_without_unsubscribe(world: World) -> None:
    assert world.send("reset:1", template_id=world.transactional_id) == MessageStatus.SENT
    [email] = world.arrived("reset:1")
    assert email["MessageStream"] == "outbound"
    assert not [h for h in email["Headers"] if h["Name"].startswith("List-Unsubscribe")]
    assert "/u/" not in email["HtmlBody"]


def test_replies_are_routed_through_the_inbound_address_only_when_there_is_one(world: World) -> None:
    routed = {"template_id": world.transactional_id, "route_replies": True}
    assert world.send("one-to-one:1", **routed) == MessageStatus.SENT
    [email] = world.arrived("one-to-one:1")
    assert email["ReplyTo"].startswith("reply+") and email["ReplyTo"].endswith("@inbound.nurture.localhost")

    world.pipeline = pipeline_for(world.settings.model_copy(update={"postmark_inbound_address": ""}))
    assert world.send("one-to-one:2", **routed) == MessageStatus.SENT
    [email] = world.arrived("one-to-one:2")
    assert email["ReplyTo"] is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("unsubscribed", "the contact is unsubscribed"),
        ("left_list", "not subscribed to list"),
        ("complained", "on the suppression list (spam_complaint)"),
        ("manual", "on the suppression list (manual)"),
    ],
)
def test_marketing_never_reaches_an_opted_out_contact(world: World, change: str, reason: str) -> None:
    with transaction(session_factory(world.settings.resolved_database_url)) as session:
        contact = session.get(Contact, world.contact_id)
        assert contact is not None
        if change == "unsubscribed":
            contact.status = ContactStatus.UNSUBSCRIBED
        elif change == "left_list":
            set_subscription(
                session, list_id=world.list_id, contact_id=contact.id, status=SubscriptionStatus.UNSUBSCRIBED
            )
        else:
            why = SuppressionReason.SPAM_COMPLAINT if change == "complained" else SuppressionReason.MANUAL
            suppress(session, email=contact.email, reason=why, source="api")

    result = world.pipeline.send(
        SendRequest(
            key="offer:2",
            template_id=world.marketing_id,
            contact_id=world.contact_id,
            list_id=world.list_id,
            model={"offer": "x"},
        )
    )
    assert result.status == MessageStatus.SUPPRESSED and reason in (result.reason or "")
    assert world.arrived("offer:2") == []
    with session_factory(world.settings.resolved_database_url)() as session:
        types = list(
            session.scalars(select(ActivityEvent.type).where(ActivityEvent.contact_id == world.contact_id))
        )
    assert "email.suppressed" in types


def test_transactional_ignores_marketing_opt_outs_but_not_hard_bounces(world: World) -> None:
    with transaction(session_factory(world.settings.resolved_database_url)) as session:
        contact = session.get(Contact, world.contact_id)
        assert contact is not None
        contact.status = ContactStatus.UNSUBSCRIBED
        suppress(session, email=contact.email, reason=SuppressionReason.SPAM_COMPLAINT, source="api")
    assert world.send("reset:2", template_id=world.transactional_id) == MessageStatus.SENT

    with transaction(session_factory(world.settings.resolved_database_url)) as session:
        suppress(session, email="ada@example.com", reason=SuppressionReason.HARD_BOUNCE, source="api")
    assert world.send("reset:3", template_id=world.transactional_id) == MessageStatus.SUPPRESSED
    assert world.arrived("reset:3") == []


def _postmark_suppresses(world: World, *, stream: str, reason: str) -> None:
    # Postmark keeps its own per-stream suppressions; Nurture hears of them as a 406 on send.
    world.postmark.state.store.suppress(stream, "ada@example.com", reason=reason, origin="Recipient")


def _contact(world: World) -> Contact:
    with session_factory(world.settings.resolved_database_url)() as session:
        contact = session.get(Contact, world.contact_id)
        assert contact is not None
        return contact


@pytest.mark.parametrize(
    ("reason", "suppression", "status"),
    [
        ("HardBounce", SuppressionReason.HARD_BOUNCE, ContactStatus.BOUNCED),
        ("SpamComplaint", SuppressionReason.SPAM_COMPLAINT, ContactStatus.COMPLAINED),
    ],
)
def test_postmark_406_suppresses_for_the_reason_postmark_gives_and_is_not_retried(
    world: World, reason: str, suppression: SuppressionReason, status: ContactStatus
) -> None:
    _postmark_suppresses(world, stream="broadcast", reason=reason)
    result = world.pipeline.send(
        SendRequest(
            key="offer:406", template_id=world.marketing_id, contact_id=world.contact_id, model={"offer": "x"}
        )
    )
    assert result.status == MessageStatus.SUPPRESSED
    assert "[406]" in (result.reason or "") and "inactive" in (result.reason or "")
    with session_factory(world.settings.resolved_database_url)() as session:
        row = get_suppression(session, email="ada@example.com")
        assert row is not None and row.source == "provider" and row.reason == suppression
    assert _contact(world).status == status


def test_an_unsubscribe_on_the_broadcast_stream_stops_marketing_but_not_transactional(world: World) -> None:
    _postmark_suppresses(world, stream="broadcast", reason="ManualSuppression")
    assert world.send("offer:406", list_id=world.list_id) == MessageStatus.SUPPRESSED
    assert _contact(world).status == ContactStatus.UNSUBSCRIBED
    with session_factory(world.settings.resolved_database_url)() as session:
        assert get_suppression(session, email="ada@example.com") is None
    assert world.send("reset:after-406", template_id=world.transactional_id) == MessageStatus.SENT


def test_an_invalid_request_fails_with_postmarks_message(world: World) -> None:
    result = world.pipeline.send(
        SendRequest(
            key="offer:300",
            template_id=world.marketing_id,
            contact_id=world.contact_id,
            model={"offer": "x"},
            from_email="not an address",
        )
    )
    assert result.status == MessageStatus.FAILED
    assert (result.reason or "").startswith("Postmark: [300]")
    assert world.message("offer:300").status == MessageStatus.FAILED


def test_an_undefined_variable_fails_the_send_naming_it(world: World) -> None:
    result = world.pipeline.send(
        SendRequest(key="offer:undef", template_id=world.marketing_id, contact_id=world.contact_id, model={})
    )
    assert result.status == MessageStatus.FAILED
    assert "model.offer" in (result.reason or "") and "html_body" in (result.reason or "")
    assert world.arrived("offer:undef") == []


@pytest.mark.parametrize("fault", ["accept_then_500", "accept_then_hang"])
def test_an_accepted_send_with_a_lost_answer_is_reconciled_not_repeated(world: World, fault: str) -> None:
    pipeline = pipeline_for(world.settings, timeout=1)
    world.postmark.add_fault(fault, seconds=3)  # type: ignore[arg-type]
    request = SendRequest(
        key=f"offer:{fault}",
        template_id=world.marketing_id,
        contact_id=world.contact_id,
        model={"offer": "x"},
    )
    with pytest.raises(SendDeferred):
        pipeline.send(request)
    assert world.message(request.key).status == MessageStatus.SENDING
    assert len(world.arrived(request.key)) == 1, "the server did accept it"

    # The retry asks Postmark first, finds the message and records it instead of sending again.
    result = pipeline.send(request)
    assert result.status == MessageStatus.SENT
    [email] = world.arrived(request.key)
    assert result.provider_message_id == email["MessageID"]


@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_a_refused_send_is_retried_and_arrives_once(world: World, fault: str) -> None:
    world.postmark.add_fault(fault)  # type: ignore[arg-type]
    request = SendRequest(
        key=f"offer:{fault}",
        template_id=world.marketing_id,
        contact_id=world.contact_id,
        model={"offer": "x"},
    )
    with pytest.raises(SendDeferred):
        world.pipeline.send(request)
    assert world.arrived(request.key) == []
    assert world.pipeline.send(request).status == MessageStatus.SENT
    assert len(world.arrived(request.key)) == 1
    assert world.message(request.key).attempts == 2


def test_two_attempts_at_once_send_once(world: World) -> None:
    # The first attempt is slow to get an answer; Temporal may start a second one meanwhile.
    world.postmark.add_fault("delay", seconds=2)
    request = SendRequest(
        key="offer:overlap", template_id=world.marketing_id, contact_id=world.contact_id, model={"offer": "x"}
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(world.pipeline.send, request)
        time.sleep(0.5)
        with pytest.raises(SendDeferred, match="in flight"):
            pipeline_for(world.settings).send(request)
        assert first.result(timeout=10).status == MessageStatus.SENT
    assert len(world.arrived("offer:overlap")) == 1


def test_a_retry_does_not_send_to_a_contact_who_opted_out_meanwhile(world: World) -> None:
    world.postmark.add_fault("429")
    request = SendRequest(
        key="offer:optout",
        template_id=world.marketing_id,
        contact_id=world.contact_id,
        list_id=world.list_id,
        model={"offer": "x"},
    )
    with pytest.raises(SendDeferred):
        world.pipeline.send(request)
    with transaction(session_factory(world.settings.resolved_database_url)) as session:
        set_subscription(
            session,
            list_id=world.list_id,
            contact_id=world.contact_id,
            status=SubscriptionStatus.UNSUBSCRIBED,
        )
    result = world.pipeline.send(request)
    assert result.status == MessageStatus.SUPPRESSED and "not subscribed" in (result.reason or "")
    assert world.arrived("offer:optout") == []


def test_giving_up_closes_the_key_sent_if_postmark_has_it_else_failed(world: World) -> None:
    found = SendRequest(
        key="offer:give-up-1",
        template_id=world.marketing_id,
        contact_id=world.contact_id,
        model={"offer": "x"},
    )
    world.postmark.add_fault("accept_then_500")
    with pytest.raises(SendDeferred):
        world.pipeline.send(found)
    assert world.pipeline.give_up(found, why="deadline").status == MessageStatus.SENT

    lost = found.model_copy(update={"key": "offer:give-up-2"})
    world.postmark.add_fault("503")
    with pytest.raises(SendDeferred):
        world.pipeline.send(lost)
    result = world.pipeline.give_up(lost, why="out of time after 1 day")
    assert result.status == MessageStatus.FAILED and result.reason == "gave up: out of time after 1 day"
    assert world.arrived("offer:give-up-2") == []
    # Closed for good: the same key later does not send either.
    assert world.send("offer:give-up-2") == MessageStatus.FAILED
    assert world.arrived("offer:give-up-2") == []


def test_after_an_unknown_outcome_the_search_waits_for_postmark_to_index_the_send(world: World) -> None:
    # Postmark shows a new message in search only after a lag; searching before it would find
    # nothing and send a duplicate. The key is held back for the reconcile delay instead.
    world.postmark.set_search_lag(1.5)
    settings = world.settings.model_copy(update={"reconcile_delay": 2.0})
    pipeline = pipeline_for(settings)
    world.postmark.add_fault("accept_then_500")
    request = SendRequest(
        key="offer:lag", template_id=world.marketing_id, contact_id=world.contact_id, model={"offer": "x"}
    )
    with pytest.raises(SendDeferred):
        pipeline.send(request)
    with pytest.raises(SendDeferred, match="held for reconciliation"):
        pipeline.send(request)  # a retry within the delay does not touch Postmark
    time.sleep(2.1)
    result = pipeline.send(request)
    assert result.status == MessageStatus.SENT
    [email] = world.arrived("offer:lag")
    assert result.provider_message_id == email["MessageID"]
