"""Fault 6: Postmark's webhooks delivered twice and out of order, some of the repeats at the same time.

The payloads are Postmark's own shapes, made by the local server's events API
(`POST /__local/messages/{id}/events`, with no webhook URL set, so it posts nothing itself); they
are then posted to the API's `/webhooks/postmark` route as Postmark's retries would arrive: each
twice, each message's in another order, all messages' interleaved, a few in flight at once.
"""

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from api.main import create_app
from chaos import checks, workloads
from chaos.lab import Lab
from chaos.results import Check, FaultResult, check
from chaos.webhook_stories import REACTIVATED, REACTIVATION_CHECK, REACTIVATION_NOTE, Story, stories
from nurture.crud.suppressions import get_suppression
from nurture.db.models import ActivityEvent, Contact, Message, MessageEvent
from nurture.schemas.email import TemplateKind

NAME = "webhook-replay"
NUMBER = 6
TITLE = "Postmark webhooks twice and out of order"
# Messages per story; the first gets its events in order, the second in reverse, the rest shuffled.
COPIES = {True: 4, False: 20}
IN_FLIGHT = 4
SEED = 7
DEADLINE = 120.0


@dataclass
class Subject:
    """One message a story is told about: which copy of the story, its contact, and its webhooks."""

    story: Story
    copy: int
    contact_id: int
    email: str
    payloads: list[dict[str, Any]] = field(default_factory=list)


async def _payloads(url: str, message_id: str, story: Story) -> list[dict[str, Any]]:
    """The story's webhooks for one message, as the local server builds them, in the story's order."""
    payloads = []
    async with httpx.AsyncClient(base_url=f"{url}/__local", timeout=30) as control:
        for event in story.events:
            body: dict[str, Any] = {"type": event.kind}
            if event.kind == "Click":
                body["link"] = event.changes["OriginalLink"]
            answer = await control.post(f"/messages/{message_id}/events", json=body)
            answer.raise_for_status()
            payloads.append({**answer.json()["posted"], **event.changes})
    return payloads


def delivery_order(subjects: list[Subject], rng: random.Random) -> list[dict[str, Any]]:
    """Every payload twice, all messages' interleaved at random.

    Each story's first copy gets its webhooks in the order told, the second reversed, the others
    shuffled; odd copies get each repeat right after the first delivery (a retry racing it), even
    ones at a random later place.
    """
    sequences: list[list[dict[str, Any]]] = []
    for subject in subjects:
        order = list(subject.payloads)
        if subject.copy == 1:
            order.reverse()
        elif subject.copy >= 2:
            rng.shuffle(order)
        doubled = list(order)
        for payload in order:
            first = next(i for i, p in enumerate(doubled) if p is payload)
            at = first + 1 if subject.copy % 2 else rng.randint(first + 1, len(doubled))
            doubled.insert(at, payload)
        sequences.append(doubled)
    merged: list[dict[str, Any]] = []
    while any(sequences):
        merged.append(rng.choice([s for s in sequences if s]).pop(0))
    return merged


async def post_all(app: Any, payloads: list[dict[str, Any]], auth: tuple[str, str]) -> list[httpx.Response]:
    """Post the payloads to `/webhooks/postmark` in this order, `IN_FLIGHT` at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", auth=auth, timeout=60) as api:

        async def one(payload: dict[str, Any]) -> httpx.Response:
            async with gate:
                return await api.post("/webhooks/postmark", json=payload)

        tasks = []
        for payload in payloads:
            tasks.append(asyncio.create_task(one(payload)))
            await asyncio.sleep(0)  # started in this order
        return list(await asyncio.gather(*tasks))


def outcomes(lab: Lab, subjects: list[Subject]) -> list[Check]:
    """Per message: its events, its contact's stream and standing, against its story."""
    wrong_events: list[str] = []
    wrong_stream: list[str] = []
    wrong_status: list[str] = []
    wrong_reactivated: list[str] = []
    with lab.sessions()() as session:
        for s in subjects:
            message_id = session.scalar(select(Message.id).where(Message.contact_id == s.contact_id))
            events = Counter(
                e.value
                for e in session.scalars(
                    select(MessageEvent.type).where(MessageEvent.message_id == message_id)
                )
            )
            stream = Counter(
                t.removeprefix("email.")
                for t in session.scalars(
                    select(ActivityEvent.type).where(ActivityEvent.contact_id == s.contact_id)
                )
                if t.startswith("email.") and t != "email.sent"
            )
            contact = session.get(Contact, s.contact_id)
            suppression = get_suppression(session, email=s.email)
            standing = (contact.status if contact else None, suppression.reason if suppression else None)
            label = f"{s.story.name} (contact {s.contact_id})"
            if events != Counter(s.story.recorded):
                wrong_events.append(f"{label}: {dict(events)}")
            if stream != Counter(s.story.recorded):
                wrong_stream.append(f"{label}: {dict(stream)}")
            if standing != (s.story.status, s.story.suppression):
                shown = "/".join(str(getattr(x, "value", x)) for x in standing)
                (wrong_reactivated if s.story is REACTIVATED else wrong_status).append(f"{label}: {shown}")
    total = len(subjects)
    reactivated = sum(1 for s in subjects if s.story is REACTIVATED)
    count = total - reactivated
    extra = []
    if reactivated:
        extra.append(
            check(
                REACTIVATION_CHECK,
                not wrong_reactivated,
                f"{reactivated - len(wrong_reactivated)} of {reactivated} contacts active and unsuppressed"
                + (f"; {'; '.join(wrong_reactivated[:4])}" if wrong_reactivated else ""),
            )
        )
    return [
        check(
            "each event recorded once on its message",
            not wrong_events,
            f"{total - len(wrong_events)} of {total} messages right"
            + (f"; {'; '.join(wrong_events[:4])}" if wrong_events else ""),
        ),
        check(
            "each event counted once on the contact's stream",
            not wrong_stream,
            f"{total - len(wrong_stream)} of {total} contacts right"
            + (f"; {'; '.join(wrong_stream[:4])}" if wrong_stream else ""),
        ),
        check(
            "final contact status right whatever the order",
            not wrong_status,
            f"{count - len(wrong_status)} of {count} contacts right"
            + (f"; {'; '.join(wrong_status[:4])}" if wrong_status else ""),
        ),
        *extra,
    ]


async def run(lab: Lab, result: FaultResult) -> None:
    """Send one email per contact, then replay each story's webhooks twice, out of order."""
    copies, told = COPIES[lab.short], stories(lab.short)
    sessions = lab.sessions()
    people = await asyncio.to_thread(workloads.audience, sessions, copies * len(told))
    receipt = await asyncio.to_thread(
        workloads.template, sessions, workloads.MESSAGE_SUBJECT, kind=TemplateKind.TRANSACTIONAL
    )
    async with lab.workers():
        workflow_ids = await workloads.send_messages(
            lab.client, lab.settings, contacts=people.emails, template_id=receipt, prefix="replay"
        )
        sent = await checks.wait_for(lambda: checks.all_completed(lab.client, workflow_ids), timeout=DEADLINE)
    lab.note(f"{len(workflow_ids)} emails sent: {sent}")
    by_email = {e.recipient: e.message_id for e in await asyncio.to_thread(checks.arrived, lab.postmark.url)}
    contacts = sorted(people.emails.items())
    subjects = [
        Subject(told[n % len(told)], n // len(told), contact_id, email)
        for n, (contact_id, email) in enumerate(contacts)
    ]
    for s in subjects:
        s.payloads = await _payloads(lab.postmark.url, by_email[s.email], s.story)
    payloads = delivery_order(subjects, random.Random(SEED))
    lab.note(f"{len(payloads)} webhooks to post, {IN_FLIGHT} at a time")
    app = create_app(lab.settings)
    answers = await post_all(app, payloads, (lab.settings.webhook_username, lab.settings.webhook_password))
    statuses = Counter(a.status_code for a in answers)
    repeats = sum(1 for a in answers if a.status_code == 200 and a.json().get("repeat"))
    lab.note(f"posted: {dict(statuses)}; {repeats} answered as repeats")
    result.setup = (
        f"{len(subjects)} emails, {copies} per story ({', '.join(s.name for s in told)}); their "
        f"{len(payloads) // 2} webhooks each posted twice ({len(payloads)} posts), each message's in "
        f"order, reversed or shuffled, repeats at once or later, {IN_FLIGHT} in flight"
    )
    result.checks.append(
        check(
            "every webhook answered 200",
            set(statuses) == {200},
            f"{dict(statuses)}; {repeats} answered as repeats",
        )
    )
    result.checks += await asyncio.to_thread(outcomes, lab, subjects)
    if any(c.name == REACTIVATION_CHECK and not c.passed for c in result.checks):
        result.notes.append(REACTIVATION_NOTE)
