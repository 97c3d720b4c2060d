"""Batches through the send pipeline against the real database and the local Postmark server:
one email per key, every key's own outcome, and exactly-once across whole-call failures."""

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
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
from nurture.db.session import get_engine, session_factory, transaction
from nurture.email.batch import BatchSender
from nurture.email.pipeline import SendDeferred
from nurture.email.postmark import PostmarkProvider
from nurture.postmark_server import RunningServer
from nurture.schemas.email import (
    BatchSendRequest,
    BatchSendResult,
    MessageStatus,
    SendRequest,
    SendResult,
    TemplateKind,
)
from nurture.settings import Settings
from nurture.tracking.tokens import Purpose, signing_keys, verify
from tests.nurture.email.sending import Sending, pipeline_for, sending_settings
from workers.registration import WorkerDeps, build_email_activities

HTML = """<html><body>
<p>Hi {{ contact.first_name }}, your plan is {{ contact.plan }}.</p>
<p><a href="https://example.com/pricing">See pricing</a> for {{ model.offer }}.</p>
</body></html>"""
CONTACTS = 6


@dataclass
class World(Sending):
    contact_ids: list[int]
    template_id: int
    list_id: int

    def requests(self, prefix: str, contacts: list[int] | None = None, **changes: Any) -> list[SendRequest]:
        return [
            SendRequest(
                key=f"{prefix}:{contact_id}",
                template_id=self.template_id,
                contact_id=contact_id,
                list_id=self.list_id,
                model={"offer": "20% off"},
                **changes,
            )
            for contact_id in contacts or self.contact_ids
        ]

    def change(self, contact_id: int, how: str) -> None:
        with transaction(session_factory(self.settings.resolved_database_url)) as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None
            if how == "unsubscribed":
                contact.status = ContactStatus.UNSUBSCRIBED
            elif how == "left_list":
                set_subscription(
                    session,
                    list_id=self.list_id,
                    contact_id=contact_id,
                    status=SubscriptionStatus.UNSUBSCRIBED,
                )
            else:
                suppress(session, email=contact.email, reason=SuppressionReason(how), source="api")


@pytest.fixture
def world(settings: Settings, postmark_server: RunningServer) -> Iterator[World]:
    settings = sending_settings(settings, postmark_server)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        newsletter = create_list(session, name="Newsletter")
        contacts = [
            Contact(email=f"reader{n}@example.com", first_name=f"Reader{n}", custom_fields={"plan": "pro"})
            for n in range(CONTACTS)
        ]
        session.add_all(contacts)
        session.flush()
        for contact in contacts:
            set_subscription(
                session, list_id=newsletter.id, contact_id=contact.id, status=SubscriptionStatus.SUBSCRIBED
            )
        template = create_template(
            session,
            name="Newsletter",
            kind=TemplateKind.MARKETING,
            subject="News for {{ contact.first_name }}",
            html_body=HTML,
        )
        ids = [c.id for c in contacts], template.id, newsletter.id
    yield World(settings, pipeline_for(settings), postmark_server, *ids)


def _statuses(results: list[SendResult]) -> list[MessageStatus]:
    return [r.status for r in results]


def test_a_batch_of_new_keys_goes_out_once_per_key_in_one_call(world: World) -> None:
    requests = world.requests("news:1")
    results = world.pipeline.send_batch(requests)

    assert [r.key for r in results] == [r.key for r in requests]
    assert _statuses(results) == [MessageStatus.SENT] * CONTACTS
    for request, result in zip(requests, results, strict=True):
        [email] = world.arrived(request.key)
        assert result.provider_message_id == email["MessageID"]
        assert email["MessageStream"] == "broadcast" and email["Subject"].startswith("News for Reader")
        assert "https://nurture.example.com/t/c/" in email["HtmlBody"] and "/u/" in email["TextBody"]
        message = world.message(request.key)
        assert message.status == MessageStatus.SENT and message.attempts == 1
    with session_factory(world.settings.resolved_database_url)() as session:
        links = session.scalar(select(func.count()).where(Message.link_urls.is_not(None)))
        sent = session.scalar(select(func.count()).where(ActivityEvent.type == "email.sent"))
    assert links == CONTACTS and sent == CONTACTS


def test_every_link_in_a_batch_email_is_signed_for_that_email(world: World) -> None:
    # Emails are composed before their ids are taken: each must still carry its own id.
    requests = world.requests("news:signed")
    world.pipeline.send_batch(requests)
    keys = signing_keys(world.settings)
    for request in requests:
        [email] = world.arrived(request.key)
        message_id = world.message(request.key).id
        found = re.findall(r"/(t/c|t/o|u)/([A-Za-z0-9_-]+)", email["HtmlBody"] + email["TextBody"])
        headers = " ".join(header["Value"] for header in email["Headers"])
        found += re.findall(r"/(u)/([A-Za-z0-9_-]+)", headers)
        purposes: dict[str, Purpose] = {"t/c": "click", "t/o": "open", "u": "unsubscribe"}
        claims = [verify(purposes[kind], token, keys=keys) for kind, token in found]
        assert {c.purpose for c in claims if c} == {"click", "open", "unsubscribe"}, found
        assert all(c is not None and c.message_id == message_id for c in claims), (message_id, found)


def test_a_retry_of_the_same_batch_sends_nothing_more(world: World) -> None:
    requests = world.requests("news:2")
    first = world.pipeline.send_batch(requests)
    again = world.pipeline.send_batch(requests)

    assert again == first
    assert len(world.postmark.messages()) == CONTACTS


def test_a_repeated_key_in_a_batch_is_one_email(world: World) -> None:
    [request] = world.requests("news:dup", world.contact_ids[:1])
    results = world.pipeline.send_batch([request, request])
    assert results[0] == results[1] and results[0].status == MessageStatus.SENT
    assert len(world.arrived(request.key)) == 1


def test_the_database_work_does_not_grow_with_the_batch(world: World) -> None:
    # Reads and writes are per batch, not per email: a batch of 6 costs what a batch of 2 does.
    engine = get_engine(world.settings.resolved_database_url)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        world.pipeline.send_batch(world.requests("news:small", world.contact_ids[:2]))
        small = len(statements)
        statements.clear()
        world.pipeline.send_batch(world.requests("news:large"))
        large = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert large == small, "\n".join(s[:150] for s in statements)


@pytest.mark.parametrize(
    ("reason", "suppression", "status"),
    [
        ("HardBounce", SuppressionReason.HARD_BOUNCE, ContactStatus.BOUNCED),
        ("SpamComplaint", SuppressionReason.SPAM_COMPLAINT, ContactStatus.COMPLAINED),
    ],
)
def test_a_406_inside_a_batch_suppresses_that_contact_and_the_others_are_sent(
    world: World, reason: str, suppression: SuppressionReason, status: ContactStatus
) -> None:
    # Postmark knows the address as inactive; Nurture does not yet.
    world.postmark.state.store.suppress("broadcast", "reader2@example.com", reason=reason, origin="Recipient")
    requests = world.requests("news:406")
    results = world.pipeline.send_batch(requests)

    inactive = results[2]
    assert inactive.status == MessageStatus.SUPPRESSED
    assert "[406]" in (inactive.reason or "") and "inactive" in (inactive.reason or "")
    assert world.arrived(requests[2].key) == []
    assert _statuses(results[:2] + results[3:]) == [MessageStatus.SENT] * (CONTACTS - 1)
    assert len(world.postmark.messages()) == CONTACTS - 1
    with session_factory(world.settings.resolved_database_url)() as session:
        row = get_suppression(session, email="reader2@example.com")
        assert row is not None and row.source == "provider" and row.reason == suppression
        contact = session.get(Contact, world.contact_ids[2])
        assert contact is not None and contact.status == status


def test_an_unsubscribe_on_the_broadcast_stream_inside_a_batch_unsubscribes_the_contact(world: World) -> None:
    world.postmark.state.store.suppress(
        "broadcast", "reader0@example.com", reason="ManualSuppression", origin="Recipient"
    )
    results = world.pipeline.send_batch(world.requests("news:unsub"))
    assert results[0].status == MessageStatus.SUPPRESSED
    assert _statuses(results[1:]) == [MessageStatus.SENT] * (CONTACTS - 1)
    with session_factory(world.settings.resolved_database_url)() as session:
        contact = session.get(Contact, world.contact_ids[0])
        assert contact is not None and contact.status == ContactStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("unsubscribed", "the contact is unsubscribed"),
        ("left_list", "not subscribed to list"),
        ("spam_complaint", "on the suppression list (spam_complaint)"),
        ("hard_bounce", "on the suppression list (hard_bounce)"),
    ],
)
def test_an_ineligible_contact_is_suppressed_without_being_sent(world: World, how: str, reason: str) -> None:
    world.change(world.contact_ids[1], how)
    requests = world.requests("news:ineligible")
    results = world.pipeline.send_batch(requests)

    assert results[1].status == MessageStatus.SUPPRESSED and reason in (results[1].reason or "")
    assert world.arrived(requests[1].key) == []
    assert world.message(requests[1].key).status == MessageStatus.SUPPRESSED
    assert _statuses(results[:1] + results[2:]) == [MessageStatus.SENT] * (CONTACTS - 1)


def test_each_email_meets_its_own_failure(world: World) -> None:
    requests = world.requests("news:mixed")
    # Postmark refuses this one alone (ErrorCode 300) ...
    requests[0] = requests[0].model_copy(update={"from_email": "not an address"})
    # ... this template cannot be rendered for this request ...
    requests[1] = requests[1].model_copy(update={"model": {}})
    # ... and these are not even in the ledger: no such contact, no such list.
    requests[2] = requests[2].model_copy(update={"contact_id": 999_999})
    requests[3] = requests[3].model_copy(update={"list_id": 999_999})
    results = world.pipeline.send_batch(requests)

    assert results[0].status == MessageStatus.FAILED and (results[0].reason or "").startswith(
        "Postmark: [300]"
    )
    assert results[1].status == MessageStatus.FAILED and "model.offer" in (results[1].reason or "")
    assert results[2].status == MessageStatus.FAILED and results[2].message_id is None
    assert results[3].status == MessageStatus.FAILED and "list 999999 does not exist" in (
        results[3].reason or ""
    )
    assert _statuses(results[4:]) == [MessageStatus.SENT] * (CONTACTS - 4)
    assert len(world.postmark.messages()) == CONTACTS - 4


@pytest.mark.parametrize("fault", ["accept_then_500", "accept_then_hang"])
def test_a_batch_accepted_with_a_lost_answer_is_reconciled_not_repeated(world: World, fault: str) -> None:
    pipeline = pipeline_for(world.settings, timeout=1)
    world.postmark.add_fault(fault, seconds=3)  # type: ignore[arg-type]
    requests = world.requests(f"news:{fault}")
    with pytest.raises(SendDeferred) as deferred:
        pipeline.send_batch(requests)
    assert f"{CONTACTS} of {CONTACTS} emails not finished" in str(deferred.value)
    assert len(world.postmark.messages()) == CONTACTS, "the server did accept them"
    held = world.message(requests[0].key)
    assert held.status == MessageStatus.SENDING and held.maybe_sent

    # The retry asks Postmark about every key, finds each and records it instead of sending again.
    results = pipeline.send_batch(requests)
    assert _statuses(results) == [MessageStatus.SENT] * CONTACTS
    assert len(world.postmark.messages()) == CONTACTS
    for request, result in zip(requests, results, strict=True):
        [email] = world.arrived(request.key)
        assert result.provider_message_id == email["MessageID"]


def test_a_retry_holds_its_claim_one_wave_of_searches_at_a_time(world: World) -> None:
    # 18 keys the server took while the answer was lost: the retry searches them in 3 waves.
    requests = [r for prefix in "abc" for r in world.requests(f"news:waves-{prefix}")]
    pipeline = pipeline_for(world.settings, timeout=1)
    world.postmark.add_fault("accept_then_500")
    with pytest.raises(SendDeferred):
        pipeline.send_batch(requests)
    assert len(world.postmark.messages()) == 18
    lease, call = timedelta(minutes=10), timedelta(minutes=5)
    sender = BatchSender(
        sessions=session_factory(world.settings.resolved_database_url),
        settings=world.settings,
        provider=PostmarkProvider(
            server_token=world.settings.postmark_server_token,
            api_url=world.settings.postmark_api_url,
            timeout=5,
        ),
        lease=lease,
        call=call,
    )
    # Each search answers 0.3 s late, so the test can watch the leases between the waves.
    world.postmark.add_fault("delay", count=18, path="/messages/outbound", seconds=0.3)
    keys = [r.key for r in requests]
    seen: list[tuple[datetime, datetime]] = []  # (when read, the latest lease then)
    with ThreadPoolExecutor(max_workers=1) as pool:
        retry = pool.submit(sender.send, requests)
        while not retry.done():
            leases = _leases(world, keys)
            if leases and None not in leases:
                seen.append((datetime.now(UTC), max(lease for lease in leases if lease)))
            time.sleep(0.05)
        tally = retry.result()

    # Found at the provider, not sent again.
    assert {result.status for result in tally.done.values()} == {MessageStatus.SENT}
    assert len(tally.done) == 18 and len(world.postmark.messages()) == 18
    # The claim covered one wave of searches and the send, not all three waves: a worker dying
    # mid-search holds the keys for that long at most.
    first_read, first_lease = seen[0]
    assert first_lease - first_read < lease + call + timedelta(seconds=5)
    # Renewed before each later wave, each time from the time of renewing.
    renewals = sorted({until for _, until in seen} - {first_lease})
    assert len(renewals) == 2, renewals
    assert all(first_lease < until < first_lease + timedelta(seconds=10) for until in renewals)


def _leases(world: World, keys: list[str]) -> list[datetime | None]:
    """The lease ends of these keys while an attempt holds them all (none before it claims them,
    none once any is finished)."""
    query = select(Message.status, Message.lease_owner, Message.lease_until).where(Message.key.in_(keys))
    with session_factory(world.settings.resolved_database_url)() as session:
        rows = session.execute(query).all()
    if any(status != MessageStatus.SENDING or owner is None for status, owner, _ in rows):
        return []
    return [until for _, _, until in rows]


@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_a_refused_batch_is_retried_and_each_email_arrives_once(world: World, fault: str) -> None:
    world.postmark.add_fault(fault, path="/email/batch")  # type: ignore[arg-type]
    requests = world.requests(f"news:{fault}")
    with pytest.raises(SendDeferred):
        world.pipeline.send_batch(requests)
    assert world.postmark.messages() == []
    assert world.message(requests[0].key).maybe_sent == (fault == "500")

    results = world.pipeline.send_batch(requests)
    assert _statuses(results) == [MessageStatus.SENT] * CONTACTS
    assert len(world.postmark.messages()) == CONTACTS
    assert {world.message(r.key).attempts for r in requests} == {2}


def test_a_retry_finishes_only_what_is_left(world: World) -> None:
    requests = world.requests("news:part")
    world.pipeline.send_batch(requests[:2])
    world.change(world.contact_ids[5], "unsubscribed")
    world.postmark.add_fault("503")
    with pytest.raises(SendDeferred):
        world.pipeline.send_batch(requests)
    # What finished is recorded: the two sent before, and the one that may not get it.
    assert world.message(requests[5].key).status == MessageStatus.SUPPRESSED
    # Opting out between attempts counts too.
    world.change(world.contact_ids[4], "left_list")

    results = world.pipeline.send_batch(requests)
    assert _statuses(results) == [MessageStatus.SENT] * 4 + [MessageStatus.SUPPRESSED] * 2
    assert "not subscribed" in (results[4].reason or "")
    assert len(world.postmark.messages()) == 4


def test_keys_another_attempt_holds_stay_unfinished(world: World) -> None:
    world.postmark.add_fault("delay", seconds=2)
    requests = world.requests("news:overlap")
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(world.pipeline.send_batch, requests[:3])
        time.sleep(0.5)
        with pytest.raises(SendDeferred, match="in flight"):
            pipeline_for(world.settings).send_batch(requests)
        assert _statuses(first.result(timeout=10)) == [MessageStatus.SENT] * 3
    # The second attempt sent the keys nobody else held.
    assert len(world.postmark.messages()) == CONTACTS
    results = world.pipeline.send_batch(requests)
    assert _statuses(results) == [MessageStatus.SENT] * CONTACTS
    assert len(world.postmark.messages()) == CONTACTS


def test_the_subject_override_renders_like_the_templates_subject(world: World) -> None:
    requests = world.requests("news:ab", subject="{{ contact.first_name }}, {{ model.offer }} inside")
    world.pipeline.send_batch(requests)
    assert world.arrived(requests[0].key)[0]["Subject"] == "Reader0, 20% off inside"
    assert world.message(requests[0].key).subject == "Reader0, 20% off inside"

    [broken] = world.requests("news:ab-broken", world.contact_ids[:1], subject="{{ contact.nickname }}!")
    result = world.pipeline.send(broken)
    assert result.status == MessageStatus.FAILED
    assert "subject" in (result.reason or "") and "contact.nickname" in (result.reason or "")


def test_giving_up_a_batch_closes_each_key(world: World) -> None:
    found = world.requests("news:give-up-found", world.contact_ids[:3])
    world.postmark.add_fault("accept_then_500")
    with pytest.raises(SendDeferred):
        world.pipeline.send_batch(found)
    lost = world.requests("news:give-up-lost", world.contact_ids[3:])
    world.postmark.add_fault("503")
    with pytest.raises(SendDeferred):
        world.pipeline.send_batch(lost)

    results = world.pipeline.give_up_batch(found + lost, why="campaign cancelled")
    assert _statuses(results) == [MessageStatus.SENT] * 3 + [MessageStatus.FAILED] * 3
    assert results[3].reason == "gave up: campaign cancelled"
    assert len(world.postmark.messages()) == 3
    # Closed for good: sending them later sends nothing.
    assert _statuses(world.pipeline.send_batch(lost)) == [MessageStatus.FAILED] * 3
    assert len(world.postmark.messages()) == 3


def test_more_than_500_is_refused_before_anything(world: World) -> None:
    [request] = world.requests("news:big", world.contact_ids[:1])
    many = [request.model_copy(update={"key": f"news:big:{n}"}) for n in range(501)]
    with pytest.raises(ValueError, match="at most 500"):
        world.pipeline.send_batch(many)
    assert world.postmark.messages() == []


@pytest.mark.parametrize(("fault", "kind"), [("503", "NotSent"), ("accept_then_500", "OutcomeUnknown")])
def test_the_activity_asks_for_a_retry_and_the_retry_finishes_the_batch(
    world: World, fault: str, kind: str
) -> None:
    activities = EmailActivities(world.pipeline)
    batch = BatchSendRequest(requests=world.requests(f"news:activity:{fault}"))
    world.postmark.add_fault(fault)  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as retry:
        ActivityEnvironment().run(activities.send_email_batch, batch)
    assert retry.value.type == kind and not retry.value.non_retryable

    result = ActivityEnvironment().run(activities.send_email_batch, batch)
    assert isinstance(result, BatchSendResult)
    assert [r.key for r in result.results] == [r.key for r in batch.requests]
    assert _statuses(result.results) == [MessageStatus.SENT] * CONTACTS
    assert len(world.postmark.messages()) == CONTACTS


def test_the_email_worker_runs_the_batch_activities(world: World) -> None:
    names = {
        activity._Definition.must_from_callable(fn).name
        for fn in build_email_activities(WorkerDeps(world.settings))
    }
    assert {"send_email_batch", "give_up_send_batch"} <= names
