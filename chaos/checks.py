"""The checks every fault ends with: what the local Postmark server holds (through its control API),
what the send ledger says, and whether every run finished."""

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from chaos.results import Check, check
from nurture.db.models import Message, MessageStatus
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY

EXAMPLES = 3
# Describes in flight at once when checking many runs.
DESCRIBES = 20


@dataclass(frozen=True)
class Arrived:
    """One email the local Postmark server holds: its id, Nurture's key, recipient and subject."""

    message_id: str
    key: str | None
    recipient: str
    subject: str


def arrived(postmark_url: str) -> list[Arrived]:
    """Every email the server holds, from `GET /__local/messages` (one recipient each in Nurture)."""
    response = httpx.get(f"{postmark_url}/__local/messages", timeout=300)
    response.raise_for_status()
    return [
        Arrived(
            message_id=m["MessageID"],
            key=(m.get("Metadata") or {}).get(METADATA_KEY),
            recipient=",".join(m["Recipients"]).lower(),
            subject=m["Subject"],
        )
        for m in response.json()
    ]


def _some(items: Iterable[object]) -> str:
    listed = list(items)
    shown = ", ".join(map(str, listed[:EXAMPLES]))
    return shown + (", ..." if len(listed) > EXAMPLES else "")


def exactly_once(emails: list[Arrived], expected: Collection[tuple[str, str]]) -> list[Check]:
    """No email lost, none doubled: each expected (recipient, subject) arrived once, nothing else did,
    and no message key reached Postmark twice."""
    got = Counter((e.recipient, e.subject) for e in emails)
    wanted = set(expected)
    lost = sorted(wanted - got.keys())
    twice = sorted(pair for pair, n in got.items() if n > 1)
    keys_twice = sorted(k for k, n in Counter(e.key for e in emails if e.key).items() if n > 1)
    stray = sorted(got.keys() - wanted)
    return [
        check(
            "no email lost",
            not lost,
            f"{len(wanted) - len(lost)} of {len(wanted)} expected emails arrived"
            + (f"; missing: {_some(lost)}" if lost else ""),
        ),
        check(
            "none doubled",
            not (twice or keys_twice or stray),
            f"{len(emails)} emails in Postmark"
            + (f"; {len(twice)} arrived twice or more: {_some(twice)}" if twice else "")
            + (f"; {len(keys_twice)} keys sent twice: {_some(keys_twice)}" if keys_twice else "")
            + (f"; {len(stray)} not expected: {_some(stray)}" if stray else ""),
        ),
    ]


def ledger_agrees(
    sessions: sessionmaker[Session],
    emails: list[Arrived],
    *,
    allowed: Collection[MessageStatus] = (MessageStatus.SENT,),
) -> list[Check]:
    """The send ledger ends each key (none left `sending`), in an allowed status, and its sent keys
    are exactly the ones Postmark holds, with Postmark's message ids."""
    with sessions() as session:
        rows = session.execute(select(Message.key, Message.status, Message.provider_message_id)).all()
    statuses = Counter(MessageStatus(status).value for _, status, _ in rows)
    unfinished = [key for key, status, _ in rows if status not in allowed]
    sent = {key: provider for key, status, provider in rows if status == MessageStatus.SENT}
    held = {e.key: e.message_id for e in emails if e.key}
    not_in_postmark = sorted(set(sent) - set(held))
    not_recorded = sorted(k for k in held if k not in sent)
    wrong_id = sorted(k for k in set(sent) & set(held) if sent[k] != held[k])
    return [
        check(
            "every key ended in the ledger",
            not unfinished,
            ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
            + (f"; not ended: {_some(unfinished)}" if unfinished else ""),
        ),
        check(
            "ledger matches Postmark",
            not (not_in_postmark or not_recorded or wrong_id),
            f"{len(sent)} keys sent in the ledger, {len(held)} in Postmark"
            + (f"; sent but not in Postmark: {_some(not_in_postmark)}" if not_in_postmark else "")
            + (f"; in Postmark but not sent: {_some(not_recorded)}" if not_recorded else "")
            + (f"; other message id: {_some(wrong_id)}" if wrong_id else ""),
        ),
    ]


async def statuses(client: Client, workflow_ids: Collection[str]) -> Counter[str]:
    """How many of these workflows are in each status ("COMPLETED", "RUNNING", "not found"...)."""
    gate = asyncio.Semaphore(DESCRIBES)

    async def one(workflow_id: str) -> str:
        async with gate:
            try:
                description = await client.get_workflow_handle(workflow_id).describe()
            except RPCError as error:
                return f"not found ({error.status.name})"
            status = description.status
            return status.name if status is not None else "unknown"

    return Counter(await asyncio.gather(*(one(w) for w in workflow_ids)))


async def all_completed(client: Client, workflow_ids: Collection[str]) -> bool:
    """Whether every one of these workflows has completed."""
    counts = await statuses(client, workflow_ids)
    return counts.get(WorkflowExecutionStatus.COMPLETED.name, 0) == len(workflow_ids)


def held(postmark: RunningServer) -> int:
    """How many emails the local Postmark server holds (read in this process: cheap to poll)."""
    return len(postmark.state.store.messages())


def holds(postmark: RunningServer, count: float) -> Callable[[], bool]:
    """A condition for `wait_for`: the local Postmark server holds at least `count` emails."""
    return lambda: held(postmark) >= count


async def runs_finished(client: Client, workflow_ids: Collection[str], *, what: str = "runs") -> Check:
    """Every one of these workflows completed."""
    counts = await statuses(client, workflow_ids)
    done = counts.get(WorkflowExecutionStatus.COMPLETED.name, 0)
    shown = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    return check(
        f"every {what.rstrip('s')} finished",
        done == len(workflow_ids),
        f"{len(workflow_ids)} {what}: {shown}",
    )


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], *, timeout: float, every: float = 0.5
) -> bool:
    """Poll `condition` until it holds; False after `timeout` seconds.

    It is called on a thread (it may query the database, and workers may share this event loop);
    if it returns an awaitable, that is awaited here. A database error (the database is down)
    counts as "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            outcome = await asyncio.to_thread(condition)
            held = await outcome if inspect.isawaitable(outcome) else outcome
        except DBAPIError:
            held = False
        if held:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)
