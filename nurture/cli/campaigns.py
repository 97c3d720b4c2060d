"""`nurture campaigns`: send a draft campaign and follow its progress bar until it is sent."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nurture.campaigns.stats import CampaignStats, campaign_stats
from nurture.db.models import Campaign, CampaignStatus
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings, get_settings

# Temporal's client is imported where a command needs it, as `nurture doctor` does: every other
# `nurture` command starts without it.
if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

    from nurture.campaigns.actions import StatusChange
    from nurture.campaigns.sending import CampaignProgress

app = typer.Typer(help="Send campaigns and follow their progress.", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)
# The progress query, about twice a second: each one is a round trip to a worker.
POLL_SECONDS = 0.5
QUERY_TIMEOUT = 5.0
# Once the workflow has closed, one last answer draws the bar as it ended, if a worker gives it soon.
CLOSED_QUERY_TIMEOUT = 2.0
CONNECT_TIMEOUT = 10.0
# The rate is measured over this many seconds: batches of 500 finish in bursts, and a pause
# brings it down to nothing within this time.
RATE_WINDOW = 10.0
FINAL = ("sent", "cancelled")
STATUS_STYLES = {"scheduled": "cyan", "sending": "green", "paused": "yellow", "sent": "bold green"}


def _fail(message: str) -> NoReturn:
    # main imports this module to register it: its helpers are looked up when a command runs.
    from nurture.cli import main

    main._fail(message)


def _sessions() -> sessionmaker[Session]:
    from nurture.cli import main

    return session_factory(main._migrated_database())


def _where(settings: Settings) -> str:
    return f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace})"


def _temporal_failure(exc: BaseException, settings: Settings) -> str | None:
    """One line saying why Temporal did not do what was asked, or None for an unexpected error."""
    from temporalio.service import RPCError

    if isinstance(exc, TimeoutError):
        return f"Cannot reach {_where(settings)}: no answer in {CONNECT_TIMEOUT:g} s"
    if isinstance(exc, RPCError):
        return f"{_where(settings)} refused: {' '.join(exc.message.split())}"
    from nurture.temporal.client import connect_failure

    reason = connect_failure(exc)
    return f"Cannot reach {_where(settings)}: {reason}" if reason is not None else None


async def _connect(settings: Settings) -> Client:
    from nurture.temporal.client import connect

    return await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT)


def _link(settings: Settings, campaign_id: int) -> str:
    """The campaign's run in the Temporal UI."""
    from nurture.campaigns.control import campaign_workflow_id
    from nurture.temporal.client import ui_link

    return ui_link(settings, campaign_workflow_id(campaign_id))


@app.command("send")
def send(
    campaign_id: Annotated[int, typer.Argument(help="The draft campaign's id")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Show its progress until it is sent")
    ] = False,
) -> None:
    """Send draft campaign ID now, as POST /campaigns/{id}/send does; its audience is fixed as it starts."""
    from nurture.campaigns.actions import (
        SEND,
        CampaignNotFound,
        CampaignRefused,
        CampaignWrongState,
        change_status,
    )

    settings = get_settings()
    sessions = _sessions()
    try:
        change = change_status(sessions, campaign_id, SEND)
    except (CampaignNotFound, CampaignWrongState) as exc:
        _fail(str(exc))
    except CampaignRefused as exc:
        _fail(f"campaign {campaign_id} cannot be sent: {exc}")
    asyncio.run(_send(settings, sessions, change, follow=follow))


async def _send(
    settings: Settings, sessions: sessionmaker[Session], change: StatusChange, *, follow: bool
) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from nurture.campaigns.actions import tell_temporal

    try:
        client = await tell_temporal(lambda: _connect(settings), settings, sessions, change)
    except WorkflowAlreadyStartedError:
        _fail(f"campaign {change.campaign_id} was sent before: a campaign is sent once")
    except Exception as exc:
        message = _temporal_failure(exc, settings)
        if message is None:
            raise
        _fail(f"{message}; campaign {change.campaign_id} is still a draft")
    link = _link(settings, change.campaign_id)
    console.print(f"Campaign {change.campaign_id} ({change.name}) is sending: {link}", markup=False)
    if follow:
        await _follow(settings, sessions, change.campaign_id, client=client)


@app.command("follow")
def follow(campaign_id: Annotated[int, typer.Argument(help="The campaign's id")]) -> None:
    """Show campaign ID's progress (done, emails per second, time left) until it is sent or cancelled."""
    asyncio.run(_follow(get_settings(), _sessions(), campaign_id, client=None))


@app.command("list")
def list_campaigns(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first")] = 50,
) -> None:
    """List campaigns, newest first, with their status and audience size."""
    with transaction(_sessions()) as session:
        rows = session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)).all()
    table = Table("id", "name", "status", "recipients", "started", "finished")
    for row in rows:
        table.add_row(
            str(row.id),
            escape(row.name),
            row.status.value,
            "" if row.recipients is None else str(row.recipients),
            f"{row.started_at:%Y-%m-%d %H:%M}" if row.started_at else "",
            f"{row.finished_at:%Y-%m-%d %H:%M}" if row.finished_at else "",
        )
    console.print(table, soft_wrap=False)


def _row(sessions: sessionmaker[Session], campaign_id: int) -> Campaign:
    from nurture.campaigns.actions import CampaignNotFound

    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            _fail(str(CampaignNotFound(campaign_id)))
        session.expunge(campaign)
        return campaign


async def _follow(
    settings: Settings, sessions: sessionmaker[Session], campaign_id: int, *, client: Client | None
) -> None:
    """The progress bar while the campaign's workflow runs, then the numbers from the database."""
    row = await asyncio.to_thread(_row, sessions, campaign_id)
    if row.status == CampaignStatus.DRAFT:
        _fail(f"campaign {campaign_id} is draft; send it with `nurture campaigns send {campaign_id}`")
    if row.status not in (CampaignStatus.SENT, CampaignStatus.CANCELLED):
        if client is None:
            try:
                client = await _connect(settings)
            except Exception as exc:
                message = _temporal_failure(exc, settings)
                if message is None:
                    raise
                _fail(f"{message}; campaign {campaign_id} is {row.status.value}")
            link = _link(settings, campaign_id)
            console.print(f"Campaign {campaign_id} ({row.name}) is {row.status.value}: {link}", markup=False)
        await _watch(client, row)
        closed = await _closed(client, campaign_id)
        row = await asyncio.to_thread(_row, sessions, campaign_id)
        if row.status not in (CampaignStatus.SENT, CampaignStatus.CANCELLED):
            _fail(
                f"campaign {campaign_id} is still {row.status.value} but its workflow is {closed}: "
                f"{_link(settings, campaign_id)}"
            )
    console.print(await asyncio.to_thread(_summary, sessions, row), markup=False)


class _Rate:
    """Emails per second over the last RATE_WINDOW seconds."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, done: int) -> float | None:
        """Note `done` at `now`; the rate since the oldest sample kept, None until a second has passed."""
        self._samples.append((now, done))
        while len(self._samples) > 1 and self._samples[1][0] <= now - RATE_WINDOW:
            self._samples.popleft()
        first_time, first_done = self._samples[0]
        return (done - first_done) / (now - first_time) if now - first_time >= 1 else None


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _show(progress: CampaignProgress, rate: float | None) -> tuple[str, str, str]:
    """The bar's rate, time left and status for one answer of the `progress` query."""
    status = progress.status
    if progress.winner is not None:
        status += f" (A/B winner: variant {progress.winner})"
    left = "-:--:--"
    if progress.recipients is not None and progress.counts.done >= progress.recipients:
        left = _clock(0)
    elif progress.recipients is not None and rate:
        left = _clock((progress.recipients - progress.counts.done) / rate)
    shown = "-" if rate is None else f"{rate:,.1f}"
    style = STATUS_STYLES.get(progress.status, "red")
    return f"{shown} emails/s", f"{left} left", f"[{style}]{escape(status)}[/]"


async def _query(client: Client, campaign_id: int, *, timeout: float) -> CampaignProgress | None:
    """The workflow's progress, or None if it did not answer (gone, or no worker to answer)."""
    from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
    from temporalio.service import RPCError

    from nurture.campaigns.control import campaign_progress

    try:
        return await asyncio.wait_for(campaign_progress(client, campaign_id=campaign_id), timeout)
    except (RPCError, TimeoutError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


async def _watch(client: Client, row: Campaign) -> None:
    """Poll the `progress` query into a bar until the campaign is sent or cancelled, or its
    workflow runs no more."""
    from nurture.campaigns.control import campaign_workflow_id

    handle = client.get_workflow_handle(campaign_workflow_id(row.id))
    rate = _Rate()
    columns = (
        TextColumn(f"Campaign {row.id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[left]}"),
        TextColumn("{task.fields[status]}"),
    )
    waiting = f"[dim]{row.status.value}[/]"
    if row.status == CampaignStatus.SCHEDULED and row.scheduled_at is not None:
        waiting = f"[cyan]scheduled for {row.scheduled_at:%Y-%m-%d %H:%M} UTC[/]"
    with Progress(*columns, console=console, refresh_per_second=4) as bar:
        task = bar.add_task("", total=None, rate="- emails/s", left="-:--:-- left", status=waiting)
        while True:
            # A closed workflow still answers queries (a worker replays it): ask whether it runs.
            running = await _running(handle)
            progress = await _query(
                client, row.id, timeout=QUERY_TIMEOUT if running else CLOSED_QUERY_TIMEOUT
            )
            if progress is not None:
                speed, left, status = _show(progress, rate.add(time.monotonic(), progress.counts.done))
                if progress.status == "scheduled":
                    status = waiting
                bar.update(
                    task,
                    total=progress.recipients,
                    completed=progress.counts.done,
                    rate=speed,
                    left=left,
                    status=status,
                )
            elif running:
                bar.update(task, status="[yellow]waiting for a worker to answer[/]")
            if not running or (progress is not None and progress.status in FINAL):
                return
            await asyncio.sleep(POLL_SECONDS)


async def _closed(client: Client, campaign_id: int) -> str:
    """Wait for the workflow to record how the campaign ended and close; how it closed."""
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError, RPCStatusCode

    from nurture.campaigns.control import campaign_workflow_id

    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        await handle.result()
    except WorkflowFailureError:
        pass
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return "gone"
    status = (await handle.describe()).status
    return status.name.lower().replace("_", " ") if status else "unknown"


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _took(started: datetime | None, finished: datetime | None) -> timedelta | None:
    return finished - started if started and finished else None


def _summary(sessions: sessionmaker[Session], row: Campaign) -> str:
    """`Campaign 5 sent: 28 sent, 0 suppressed, 0 failed of 28 recipients in 3.2 s (8.8 emails/s)`."""
    with sessions() as session:
        # Only drafts are deleted: a campaign that was sent is still there.
        stats = campaign_stats(session, campaign_id=row.id) or CampaignStats()
    line = f"Campaign {row.id} {row.status.value}: {stats.sent} sent, {stats.suppressed} suppressed, "
    line += f"{stats.failed} failed"
    if stats.cancelled:
        line += f", {stats.cancelled} not sent"
    line += f" of {stats.recipients} recipients"
    took = _took(row.started_at, row.finished_at)
    if took is None:
        return line + ", before sending started" if row.started_at is None else line
    seconds = took.total_seconds()
    line += f" in {_elapsed(seconds)}"
    if seconds > 0 and stats.done:
        line += f" ({stats.done / seconds:,.1f} emails/s)"
    return line
