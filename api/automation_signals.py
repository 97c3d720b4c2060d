"""After a route commits a change to a contact: tell the contact's running runs, start what it triggers.

Routes describe what they changed (`nurture.automations.triggers.Change`) and call `dispatch` after
committing: inline in async routes that report the outcome (`POST /events`), or through
`dispatch_after_response` in sync routes, so the caller never waits on Temporal. Everything here
is best effort: the change is in the database already, and runs re-read it on their next check.
If Temporal is down, a warning is logged and the signals and starts are lost; a periodic re-check
of running runs and of triggers against recent changes is future work.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import BackgroundTasks, FastAPI, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from nurture.automations.bulk import refusal_category
from nurture.automations.definition import Definition
from nurture.automations.enroll import enroll
from nurture.automations.runs import ContactEventSignal
from nurture.automations.triggers import (
    Change,
    EventRecorded,
    SubscriptionChanged,
    Tagged,
    Triggered,
    active_definitions,
    heard_by_runs,
    triggered_by,
)
from nurture.db.models import ActivityEvent, AutomationRun, RunStatus
from nurture.observability.metrics import count_enrollment

log = logging.getLogger(__name__)

# A signal is one small RPC; a Temporal that does not answer in this long is treated as down.
SIGNAL_TIMEOUT = timedelta(seconds=5)
UNREACHABLE = "Temporal could not be reached"
# Contacts whose running runs are read per query in a bulk dispatch.
CHUNK_SIZE = 500


@dataclass(frozen=True)
class Started:
    """A run a change started."""

    automation_id: int
    workflow_id: str | None
    run_id: int | None


@dataclass(frozen=True)
class Refused:
    """An automation a change triggered that did not start a run, and why."""

    automation_id: int
    reason: str


@dataclass
class Dispatched:
    """What became of one contact's change: runs signalled (or not) and automations started (or not)."""

    signalled: list[str] = field(default_factory=list)
    # Runs the database showed as running whose workflow had already finished: not an error.
    not_running: list[str] = field(default_factory=list)
    unsignalled: list[str] = field(default_factory=list)
    started: list[Started] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    error: str | None = None


def _running(session: Session, contact_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = session.execute(
        select(AutomationRun.contact_id, AutomationRun.workflow_id)
        .where(AutomationRun.contact_id.in_(contact_ids), AutomationRun.status == RunStatus.RUNNING)
        .order_by(AutomationRun.id)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for contact_id, workflow_id in rows:
        found[contact_id].append(workflow_id)
    return found


def _look_up(
    sessions: sessionmaker[Session], contact_ids: Sequence[int]
) -> tuple[dict[int, list[str]], list[tuple[int, Definition]]]:
    with sessions() as session:
        runs: dict[int, list[str]] = {}
        for start in range(0, len(contact_ids), CHUNK_SIZE):
            runs.update(_running(session, contact_ids[start : start + CHUNK_SIZE]))
        return runs, active_definitions(session)


def _event_signal(change: EventRecorded) -> ContactEventSignal:
    return ContactEventSignal(name=change.name, properties=change.properties, occurred_at=change.occurred_at)


async def _signal(client: Client, workflow_id: str, changes: Sequence[Change], result: Dispatched) -> None:
    handle = client.get_workflow_handle(workflow_id)
    try:
        for change in changes:
            if isinstance(change, EventRecorded):
                await handle.signal("contact_event", _event_signal(change), rpc_timeout=SIGNAL_TIMEOUT)
        # One wake-up re-checks exits, goals and conditions, however many other things changed.
        if any(not isinstance(change, EventRecorded) for change in changes):
            await handle.signal("contact_changed", rpc_timeout=SIGNAL_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            result.not_running.append(workflow_id)
            return
        log.warning("could not signal run %s: %s", workflow_id, exc)
        result.unsignalled.append(workflow_id)
        result.error = f"{UNREACHABLE}: {exc}"
    else:
        result.signalled.append(workflow_id)


async def _start(app: FastAPI, client: Client, contact_id: int, match: Triggered, result: Dispatched) -> None:
    change = match.change
    try:
        enrollment = await enroll(
            client,
            app.state.sessions,
            app.state.settings,
            automation_id=match.automation_id,
            contact_id=contact_id,
            entry_value=match.entry_value,
            # Signal-with-start: the run has the event that started it before its first step.
            event=_event_signal(change) if isinstance(change, EventRecorded) else None,
        )
    except Exception as exc:
        count_enrollment("trigger", result="error")
        log.warning("could not start automation %s for contact %s: %s", match.automation_id, contact_id, exc)
        result.refused.append(Refused(match.automation_id, f"could not start: {exc}"))
        return
    outcome = "started" if enrollment.started else refusal_category(enrollment.reason)
    count_enrollment("trigger", result=outcome)
    if enrollment.started:
        result.started.append(Started(match.automation_id, enrollment.workflow_id, enrollment.run_id))
    else:
        result.refused.append(Refused(match.automation_id, enrollment.reason or "refused"))


async def _deliver(
    app: FastAPI,
    client: Client | None,
    *,
    contact_id: int,
    changes: Sequence[Change],
    runs: list[str],
    matches: list[Triggered],
    error: str | None,
) -> Dispatched:
    result = Dispatched()
    if client is None:
        result.error = error
        result.unsignalled = list(runs)
        result.refused = [Refused(m.automation_id, f"not started: {UNREACHABLE}") for m in matches]
        return result
    # Runs first: a run started below has the event through its start and needs no signal.
    await asyncio.gather(*(_signal(client, workflow_id, changes, result) for workflow_id in runs))
    # Reported in the runs' order, not in the order Temporal happened to answer.
    for found in (result.signalled, result.not_running, result.unsignalled):
        found.sort(key=runs.index)
    for match in matches:
        await _start(app, client, contact_id, match, result)
    return result


async def _client(app: FastAPI) -> tuple[Client | None, str | None]:
    try:
        client: Client = await app.state.temporal.client()
    except Exception as exc:
        # The change is committed; only its signals and starts are lost (see the module docstring).
        log.warning("%s; runs and triggers not told of a contact change: %s", UNREACHABLE, exc)
        return None, f"{UNREACHABLE}: {exc}"
    return client, None


async def dispatch(app: FastAPI, *, contact_id: int, changes: Sequence[Change]) -> Dispatched:
    """Signal the contact's running runs about committed changes and start the automations they trigger.

    Events go to each run as `contact_event`; a reply to none (`heard_by_runs`); any other change
    as one `contact_changed`. Temporal
    is only contacted when there is a run to tell or an automation to start, and never raises out
    of here: what could not be done is in the result (and the log).

    Args:
        app: The app, for its sessions, settings and Temporal connection.
        contact_id: The contact that changed.
        changes: What changed, as committed.

    Returns:
        The runs signalled (or found finished, or not reached) and the automations started or refused.
    """
    if not changes:
        return Dispatched()
    runs, definitions = await asyncio.to_thread(_look_up, app.state.sessions, [contact_id])
    matches = triggered_by(definitions, changes)
    heard = heard_by_runs(changes)
    to_tell = runs.get(contact_id, []) if heard else []
    if not to_tell and not matches:
        return Dispatched()
    client, error = await _client(app)
    return await _deliver(
        app, client, contact_id=contact_id, changes=heard, runs=to_tell, matches=matches, error=error
    )


def activity_mark(session: Session) -> int:
    """The newest activity id now: pass it to `dispatch_since` after a bulk write commits."""
    return session.scalar(select(func.max(ActivityEvent.id))) or 0


def _recorded_since(sessions: sessionmaker[Session], after_id: int) -> dict[int, list[Change]]:
    with sessions() as session:
        rows = session.execute(
            select(ActivityEvent.contact_id, ActivityEvent.type, ActivityEvent.data)
            .where(ActivityEvent.id > after_id, ActivityEvent.type.in_(("list.subscribed", "tag.added")))
            .order_by(ActivityEvent.id)
        )
        changes: dict[int, list[Change]] = defaultdict(list)
        for contact_id, type_, data in rows:
            if type_ == "list.subscribed" and isinstance(data.get("list_id"), int):
                changes[contact_id].append(SubscriptionChanged(data["list_id"], subscribed=True))
            elif type_ == "tag.added" and data.get("tag"):
                changes[contact_id].append(Tagged(data["tag"]))
        return changes


async def dispatch_since(app: FastAPI, *, after_activity_id: int) -> int:
    """Dispatch the subscriptions and tags the activity stream recorded after a mark, per contact.

    For bulk writes (the CSV import) that do not report what they changed per contact. A change
    another request committed meanwhile is dispatched twice, which is harmless: signals only wake
    runs up, and the entry rule refuses a second run. Returns how many contacts were dispatched.
    """
    sessions = app.state.sessions
    by_contact = await asyncio.to_thread(_recorded_since, sessions, after_activity_id)
    if not by_contact:
        return 0
    contact_ids = list(by_contact)
    runs, definitions = await asyncio.to_thread(_look_up, sessions, contact_ids)
    work = [
        (contact_id, by_contact[contact_id], runs.get(contact_id, []), triggered_by(definitions, changes))
        for contact_id, changes in by_contact.items()
    ]
    work = [item for item in work if item[2] or item[3]]
    if not work:
        return 0
    client, error = await _client(app)
    for contact_id, changes, contact_runs, matches in work:
        await _deliver(
            app,
            client,
            contact_id=contact_id,
            changes=changes,
            runs=contact_runs,
            matches=matches,
            error=error,
        )
    return len(work)


async def _after_response(session: Session, run: Callable[[], Awaitable[object]]) -> None:
    # FastAPI keeps a request's dependencies open until its background tasks end, and on SQLite
    # the session's open transaction holds the write lock that starting a run needs: end it first.
    await asyncio.to_thread(session.close)
    await run()


def dispatch_after_response(
    background: BackgroundTasks,
    request: Request,
    session: Session,
    *,
    contact_id: int,
    changes: Sequence[Change],
) -> None:
    """`dispatch` once the response is sent, closing the request's (committed) session first."""
    if changes:
        changes = list(changes)
        background.add_task(
            _after_response,
            session,
            lambda: dispatch(request.app, contact_id=contact_id, changes=changes),
        )


def dispatch_since_after_response(
    background: BackgroundTasks, request: Request, session: Session, *, after_activity_id: int
) -> None:
    """`dispatch_since` once the response is sent, closing the request's (committed) session first."""
    background.add_task(
        _after_response, session, lambda: dispatch_since(request.app, after_activity_id=after_activity_id)
    )
