"""A 20,000-recipient campaign whose worker is killed (SIGKILL) three times mid-send: after the
restarts, the local Postmark server holds exactly one email per eligible recipient, none for the rest."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.control import start_campaign
from nurture.campaigns.sending import CampaignProgress
from nurture.crud.lists import create_list
from nurture.crud.suppressions import suppress
from nurture.crud.templates import create_template
from nurture.db.base import utcnow
from nurture.db.models import (
    ActivityEvent,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Contact,
    ContactStatus,
    ListSubscription,
    Message,
    MessageStatus,
    SubscriptionStatus,
    SuppressionReason,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY
from nurture.settings import Settings
from tests.conftest import _postgres_reachable
from tests.isolated import isolated

AUDIENCE = 20_000
# Of the audience, this many are on both audience lists: one email each all the same.
IN_BOTH = 500
# The worker is killed once Postmark holds this share of the audience (and the batches then in
# flight are in too: about 2,500 more).
KILL_AT = (0.15, 0.40, 0.65)
# A short provider timeout makes short leases (2 x (3 + 3) s + 15 s): a dead attempt's keys free
# up soon. Long enough for the test to kill the worker while it waits for the hanging call.
POSTMARK_TIMEOUT = 3.0
# Seconds for the send to reach the next kill, or its end, before the test fails.
DEADLINE = 120.0


@dataclass
class Audience:
    """Who must get the campaign once, and who must get nothing, by why."""

    campaign_id: int
    eligible: list[str]
    ineligible: dict[str, list[str]] = field(default_factory=dict)


def _contacts(session: Session, emails: list[str], **values: Any) -> list[int]:
    """Insert contacts in one statement; their ids, in order."""
    session.execute(insert(Contact), [{"email": email, **values} for email in emails])
    ids = dict(session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(emails))).all())
    return [ids[email] for email in emails]


def _subscribe(
    session: Session,
    contact_ids: list[int],
    list_id: int,
    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED,
) -> None:
    rows = [{"list_id": list_id, "contact_id": c, "status": status} for c in contact_ids]
    session.execute(insert(ListSubscription), rows)


def _audience(sessions: sessionmaker[Session]) -> Audience:
    """20,000 eligible contacts, a few of each kind that must get nothing, and the campaign to them."""
    with transaction(sessions) as session:
        news = create_list(session, name="News").id
        offers = create_list(session, name="Offers").id
        customers = create_list(session, name="Customers").id
        partners = create_list(session, name="Partners").id
        template = create_template(
            session,
            name="November news",
            kind=TemplateKind.MARKETING,
            subject="News for {{ contact.email }}",
            html_body="<p>Hello {{ contact.email }}, here is what is new.</p>",
        ).id
        eligible = [f"r{i:05}@example.com" for i in range(AUDIENCE)]
        ids = _contacts(session, eligible)
        _subscribe(session, ids, news)
        _subscribe(session, ids[:IN_BOTH], offers)

        ineligible: dict[str, list[str]] = {}

        def group(why: str, *lists: int, **values: Any) -> list[int]:
            ineligible[why] = [f"{why.replace(' ', '-')}{i}@example.com" for i in range(5)]
            contact_ids = _contacts(session, ineligible[why], **values)
            for list_id in lists:
                _subscribe(session, contact_ids, list_id)
            return contact_ids

        _subscribe(session, group("unsubscribed"), news, SubscriptionStatus.UNSUBSCRIBED)
        _subscribe(session, group("pending"), offers, SubscriptionStatus.PENDING)
        group("suppressed", news)
        for email in ineligible["suppressed"]:
            suppress(session, email=email, reason=SuppressionReason.HARD_BOUNCE, source="test")
        for status in (ContactStatus.UNSUBSCRIBED, ContactStatus.BOUNCED, ContactStatus.COMPLAINED):
            group(f"contact {status.value}", news, status=status)
        group("excluded", news, customers)
        group("other list", partners)

        campaign = Campaign(
            name="November news",
            template_id=template,
            audience={"lists": [news, offers], "exclude_lists": [customers]},
        )
        session.add(campaign)
        session.flush()
        return Audience(campaign.id, eligible, ineligible)


class WorkerProcess:
    """`python -m nurture worker` in a process of its own, as in production, to kill and restart."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
        self._env.update(
            NURTURE_DATABASE_URL=settings.resolved_database_url,
            NURTURE_DATA_DIR=str(settings.data_dir),
            NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
            NURTURE_POSTMARK_API_URL=settings.postmark_api_url,
            NURTURE_POSTMARK_SERVER_TOKEN=settings.postmark_server_token,
            NURTURE_POSTMARK_TIMEOUT=str(POSTMARK_TIMEOUT),
            # The local server's search shows a message at once: no need to wait a minute for it.
            NURTURE_RECONCILE_DELAY="1",
            NURTURE_TASK_QUEUE=settings.task_queue,
            NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
        )
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def note(self, line: str) -> None:
        """A line of the test's own in the log, between the worker's."""
        with self.log.open("a") as out:
            out.write(f"--- {line}\n")

    def start(self) -> None:
        self.starts += 1
        self.note(f"worker {self.starts} starts")
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "nurture", "worker"],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no chance to record what it was doing."""
        assert self._process is not None
        assert self._process.poll() is None, f"the worker had died on its own:\n{self.tail()}"
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self.note(f"worker {self.starts} killed")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Crash:
    """One test's stack: the database, the local Postmark server, the worker process, the run."""

    settings: Settings
    postmark: RunningServer
    worker: WorkerProcess
    handle: WorkflowHandle[Any, CampaignProgress] | None = None
    timeline: list[str] = field(default_factory=list)
    begun: float = field(default_factory=time.monotonic)

    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.resolved_database_url)

    def stored(self) -> int:
        return len(self.postmark.state.store.messages())

    def note(self, what: str) -> None:
        line = f"{time.monotonic() - self.begun:6.1f} s  {what} ({self.stored()} in Postmark)"
        self.timeline.append(line)
        self.worker.note(line)

    async def hold(self, held: bool) -> None:
        """Pause or resume the campaign's new batches; a run that has ended has none to hold."""
        assert self.handle is not None
        try:
            await self.handle.signal("pause" if held else "resume")
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            self.note("the run has ended")

    def sending(self) -> set[str]:
        """Keys the ledger has `sending`: reserved by an attempt and not finished."""
        with self.sessions()() as session:
            query = select(Message.key).where(Message.status == MessageStatus.SENDING)
            return set(session.scalars(query))

    def accepted_unrecorded(self) -> set[str]:
        """Keys Postmark has taken that the ledger still has `sending`: what a kill now leaves behind."""
        taken = (m.email.metadata.get(METADATA_KEY) for m in self.postmark.state.store.messages())
        return self.sending().intersection(taken)

    async def fail(self, why: str) -> NoReturn:
        """Fail with what explains a stuck send: the timeline, the ledger, pending activities, the log."""
        self.note(why)
        with self.sessions()() as session:
            ledger = session.execute(
                select(
                    Message.status, Message.maybe_sent, func.count(), func.max(Message.lease_until)
                ).group_by(Message.status, Message.maybe_sent)
            ).all()
        pending = ""
        if self.handle is not None:
            description = await self.handle.describe()
            pending = "\n".join(
                f"  {a.activity_type.name} attempt {a.attempt}, last started "
                f"{a.last_started_time.ToDatetime():%H:%M:%S}, last failure: {a.last_failure.message[:300]}"
                for a in description.raw_description.pending_activities
            )
        pytest.fail(
            f"{why}\ntimeline:\n"
            + "\n".join(self.timeline)
            + f"\nledger at {utcnow():%H:%M:%S} (status, maybe sent, keys, last lease end):\n"
            + "\n".join(f"  {row}" for row in ledger)
            + f"\npending activities:\n{pending}\nworker log:\n{self.worker.tail()}"
        )

    async def wait_for(
        self, what: str, condition: Callable[[], bool], *, timeout: float = DEADLINE, every: float = 0.2
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                await self.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            await asyncio.sleep(every)

    async def wait_for_stored(self, count: int) -> None:
        await self.wait_for(f"{count} emails in Postmark", lambda: self.stored() >= count)

    def reconciling(self) -> bool:
        """Whether a key an attempt left `sending` may be in Postmark: it is being looked up there."""
        with self.sessions()() as session:
            query = select(func.count()).where(
                Message.status == MessageStatus.SENDING, Message.maybe_sent.is_(True)
            )
            return bool(session.scalar(query))

    async def kill_mid_send(self) -> set[str]:
        """Kill the worker while Postmark has emails it took that the ledger has not recorded; those keys.

        Never while keys are being reconciled: a kill then leaves them claimed for the whole
        budget of their lookups (22 minutes for a batch of 500 here), longer than this test waits.
        """
        assert self.handle is not None
        while True:
            await self.wait_for("no reconciliation under way", lambda: not self.reconciling())
            # The next batch call is taken in full and then answers nothing: the worker waits for it.
            self.postmark.add_fault("accept_then_hang", seconds=30)
            await self.wait_for("a batch call to hang", lambda: not self.postmark.state.faults.pending())
            self.note("a batch call hangs")
            await self.wait_for(
                "a batch taken by Postmark and not yet recorded",
                lambda: bool(self.accepted_unrecorded()),
                every=0.05,
            )
            if not self.reconciling():
                break
            # The hanging call timed out first (the server was slow to take it), or another batch is
            # being reconciled: try the next batch, holding new ones until then so the send goes on.
            self.note("not killed: keys are being reconciled")
            await self.hold(True)
            await self.wait_for("no reconciliation under way", lambda: not self.reconciling())
            await self.hold(False)
        self.worker.kill()
        left = self.accepted_unrecorded()
        self.note(f"worker killed with {len(left)} emails taken by Postmark and not recorded")
        return left

    async def restart(self) -> None:
        """Start a new worker and wait until it has settled every key the killed one left `sending`.

        The batches in flight at the kill are retried once Temporal notices the dead worker (the
        heartbeat timeout) and their keys' leases run out: about half a minute. New batches are
        held (`pause`) meanwhile, or a full-speed send would be over before the third kill.
        """
        assert self.handle is not None
        left = self.sending()
        self.worker.start()
        await self.hold(True)
        await self.wait_for(
            f"the {len(left)} keys left sending to be settled", lambda: not left & self.sending()
        )
        self.note(f"the {len(left)} keys left sending are settled")
        await self.hold(False)


@pytest.fixture
def crash(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer, tmp_path: Path
) -> Iterator[Crash]:
    if settings.resolved_database_url.startswith("sqlite") and _postgres_reachable():
        # Two minutes of kills and restarts is enough once: on PostgreSQL, SQLite when it is not there.
        pytest.skip("the crash test takes two minutes, so it runs once: on PostgreSQL, which is reachable")
    target = dev_server.client.service_client.config.target_host
    settings = isolated(settings, postmark_server, temporal_address=target)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        yield Crash(settings, postmark_server, worker)
    finally:
        worker.stop()


async def test_a_campaign_whose_worker_is_killed_three_times_reaches_everyone_exactly_once(
    crash: Crash, dev_server: WorkflowEnvironment
) -> None:
    audience = _audience(crash.sessions())
    crash.note("audience written")
    crash.worker.start()
    crash.handle = await start_campaign(
        dev_server.client, crash.settings, campaign_id=audience.campaign_id, name="November news", index=False
    )
    left_behind: list[set[str]] = []
    for share in KILL_AT:
        await crash.wait_for_stored(int(share * AUDIENCE))
        left_behind.append(await crash.kill_mid_send())
        await crash.restart()
    try:
        progress = await asyncio.wait_for(crash.handle.result(), timeout=DEADLINE)
    except TimeoutError:
        await crash.fail(f"the campaign did not finish within {DEADLINE:.0f} s of the last restart")
    crash.note("campaign sent")
    print("\n".join(crash.timeline))

    received = Counter(a.email for m in crash.postmark.state.store.messages() for a in m.email.to)
    twice = {email: n for email, n in received.items() if n > 1}
    missing = [email for email in audience.eligible if email not in received]
    assert not twice, (
        f"{len(twice)} recipients got the campaign more than once, e.g. {list(twice.items())[:5]}"
    )
    assert not missing, f"{len(missing)} eligible recipients got nothing, e.g. {missing[:5]}"
    for why, emails in audience.ineligible.items():
        assert not [e for e in emails if e in received], f"{why} contacts got the campaign"
    assert received.total() == AUDIENCE

    assert (progress.status, progress.recipients, progress.handed_out) == ("sent", AUDIENCE, AUDIENCE)
    assert progress.counts.model_dump() == {"sent": AUDIENCE, "suppressed": 0, "failed": 0}
    with crash.sessions()() as session:
        campaign = session.get(Campaign, audience.campaign_id)
        assert campaign is not None
        assert (campaign.status, campaign.recipients) == (CampaignStatus.SENT, AUDIENCE)
        of_campaign = CampaignRecipient.campaign_id == audience.campaign_id
        statuses = Counter(session.scalars(select(CampaignRecipient.status).where(of_campaign)))
        events = session.scalars(select(ActivityEvent.data).where(ActivityEvent.type == "email.sent"))
        reconciled = {data["message_key"] for data in events if data.get("reconciled")}
    assert statuses == Counter({"sent": AUDIENCE})
    # What Postmark took just before each kill was found there afterwards, not sent again.
    assert any(left_behind), "no kill came between Postmark taking emails and the ledger recording them"
    for kill, keys in enumerate(left_behind, start=1):
        assert keys <= reconciled, f"kill {kill}: {len(keys - reconciled)} keys were not reconciled"
