"""`nurture campaigns send ID --follow`, `follow` and `list` as an operator runs them: on the real
dev server with workers and the local Postmark server, a progress bar and the campaign's numbers;
refusals in one line on stderr, with the draft left as it was."""

import asyncio
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.actions import CANCEL, change_status, tell_temporal
from nurture.crud.lists import create_list
from nurture.crud.templates import create_template
from nurture.db.models import (
    Campaign,
    CampaignStatus,
    Contact,
    ListSubscription,
    SubscriptionStatus,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.isolated import isolated
from workers.registration import WorkerDeps, running_workers


def _env(settings: Settings) -> dict[str, str]:
    """A clean environment pointed at the test's database, Temporal and task queues."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    clean.update(
        NURTURE_DATA_DIR=str(settings.data_dir),
        NURTURE_DATABASE_URL=settings.resolved_database_url,
        NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
        NURTURE_TASK_QUEUE=settings.task_queue,
        NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    return clean


def _nurture(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _run(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    # Off the event loop: the test's workers poll on it while the command runs.
    return await asyncio.to_thread(_nurture, *args, settings=settings)


def _draft(settings: Settings, contacts: int, **fields: Any) -> int:
    """A draft campaign to `contacts` subscribers of a new list, with an id no earlier test used:
    the dev server outlives the emptied database, and `campaign:{id}` names one send."""
    with transaction(session_factory(settings.resolved_database_url)) as session:
        news = create_list(session, name=f"News {uuid.uuid4().hex[:6]}").id
        template = create_template(
            session,
            name=f"news-{uuid.uuid4().hex[:6]}",
            kind=TemplateKind.MARKETING,
            subject="News for {{ contact.email }}",
            html_body="<p>Hello</p>",
        ).id
        rows = [Contact(email=f"c{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(contacts)]
        session.add_all(rows)
        session.flush()
        session.add_all(
            ListSubscription(list_id=news, contact_id=row.id, status=SubscriptionStatus.SUBSCRIBED)
            for row in rows
        )
        campaign = Campaign(
            id=random.randint(10**6, 10**8),
            name="November news",
            template_id=template,
            audience={"lists": [news]},
            **fields,
        )
        session.add(campaign)
        return campaign.id


def _row(settings: Settings, campaign_id: int) -> Campaign:
    with session_factory(settings.resolved_database_url)() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


def _set_status(settings: Settings, campaign_id: int, status: CampaignStatus) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))


@pytest.fixture
async def live(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Settings]:
    """Settings for the dev server and the local Postmark server, with workers on fresh queues."""
    target = dev_server.client.service_client.config.target_host
    settings = isolated(settings, postmark_server, temporal_address=target)
    async with running_workers(dev_server.client, WorkerDeps(settings=settings)):
        yield settings


def _received(postmark: RunningServer) -> Counter[str]:
    return Counter(r for m in postmark.messages() for r in m["Recipients"])


SUMMARY = r" in \d+\.\d s \([\d,.]+ emails/s\)"


async def test_send_follow_shows_the_bar_and_the_numbers_and_the_ui_its_summary_and_progress(
    live: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> None:
    campaign = _draft(live, 30)

    sent = await _run("campaigns", "send", str(campaign), "--follow", settings=live)

    assert sent.returncode == 0, sent.stderr
    lines = sent.stdout.splitlines()
    assert lines[0] == (
        f"Campaign {campaign} (November news) is sending: "
        f"http://localhost:8233/namespaces/default/workflows/campaign%3A{campaign}"
    )
    # Outside a terminal the bar is drawn once, as it ended.
    bar = [line for line in lines if "30/30" in line]
    assert len(bar) == 1 and bar[0].startswith(f"Campaign {campaign} ") and bar[0].endswith(" sent"), lines
    assert "emails/s" in bar[0] and "0:00:00 left" in bar[0]
    assert re.fullmatch(
        rf"Campaign {campaign} sent: 30 sent, 0 suppressed, 0 failed of 30 recipients{SUMMARY}", lines[-1]
    ), lines
    assert sorted(_received(postmark_server).values()) == [1] * 30
    row = _row(live, campaign)
    assert (row.status, row.recipients, row.workflow_id) == (CampaignStatus.SENT, 30, f"campaign:{campaign}")

    # What the Temporal UI shows for the run: its summary, and its progress as current details.
    handle = dev_server.client.get_workflow_handle(f"campaign:{campaign}")
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert await described.static_summary() == f"Campaign {campaign}: November news"
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details == "30 of 30 recipients done"

    # Once it is over: followed again (the numbers from the database), listed, and not sent twice.
    again, listed, resent = await asyncio.gather(
        _run("campaigns", "follow", str(campaign), settings=live),
        _run("campaigns", "list", settings=live),
        _run("campaigns", "send", str(campaign), settings=live),
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [lines[-1]]
    assert listed.returncode == 0, listed.stderr
    cells = [[c.strip() for c in line.split("│") if c.strip()] for line in listed.stdout.splitlines()]
    assert [str(campaign), "November news", "sent", "30"] in [row[:4] for row in cells]
    assert (resent.returncode, resent.stdout) == (1, "")
    assert resent.stderr.strip() == f"campaign {campaign} is sent; only a draft campaign can be sent"


async def test_follow_ends_when_the_campaign_is_cancelled_with_what_was_not_sent(
    live: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> None:
    # Five a minute: one batch of five now, the next a minute later; cancelled before that.
    campaign = _draft(live, 12, send_rate=5)
    started = await _run("campaigns", "send", str(campaign), settings=live)
    assert started.returncode == 0, started.stderr
    following = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "nurture", "campaigns", "follow", str(campaign)),
        env=_env(live),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert following.stdout is not None
    # Its first line says it is following, before it draws the bar.
    first = (await asyncio.wait_for(following.stdout.readline(), 30)).decode()
    assert first.startswith(f"Campaign {campaign} (November news) is sending: http://"), first
    deadline = time.monotonic() + 30
    while sum(_received(postmark_server).values()) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    # Cancelled as POST /campaigns/{id}/cancel does it: the row, then the workflow.
    sessions = session_factory(live.resolved_database_url)
    change = await asyncio.to_thread(change_status, sessions, campaign, CANCEL)

    async def temporal() -> Client:
        return dev_server.client

    await tell_temporal(temporal, live, sessions, change)
    out, err = await asyncio.wait_for(following.communicate(), 30)

    assert following.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert any("5/12" in line and line.endswith(" cancelled") for line in lines), lines
    assert re.fullmatch(
        rf"Campaign {campaign} cancelled: 5 sent, 0 suppressed, 0 failed, 7 not sent "
        rf"of 12 recipients{SUMMARY}",
        lines[-1],
    ), lines
    assert sum(_received(postmark_server).values()) == 5


async def test_follow_says_so_when_the_workflow_ended_without_finishing_the_campaign(
    live: Settings, dev_server: WorkflowEnvironment
) -> None:
    campaign = _draft(live, 12, send_rate=5)
    assert (await _run("campaigns", "send", str(campaign), settings=live)).returncode == 0
    await dev_server.client.get_workflow_handle(f"campaign:{campaign}").terminate(reason="operator")

    followed = await _run("campaigns", "follow", str(campaign), settings=live)

    assert followed.returncode == 1
    assert followed.stderr.strip() == (
        f"campaign {campaign} is still sending but its workflow is terminated: "
        f"http://localhost:8233/namespaces/default/workflows/campaign%3A{campaign}"
    )


async def test_refusals_name_the_campaign_and_leave_the_draft_as_it_was(settings: Settings) -> None:
    draft, paused = _draft(settings, 3), _draft(settings, 3)
    _set_status(settings, paused, CampaignStatus.PAUSED)

    # Temporal points nowhere (127.0.0.1:1): only the draft's send gets that far. Following the
    # draft comes first: its send marks it sending until Temporal is found unreachable.
    draft_followed = await _run("campaigns", "follow", str(draft), settings=settings)
    missing, missing_followed, unreachable, not_draft = await asyncio.gather(
        _run("campaigns", "send", "999999999", settings=settings),
        _run("campaigns", "follow", "999999999", settings=settings),
        _run("campaigns", "send", str(draft), settings=settings),
        _run("campaigns", "send", str(paused), settings=settings),
    )

    def refusal(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
        return result.returncode, result.stdout, result.stderr.strip()

    assert refusal(missing) == (1, "", "campaign 999999999 does not exist")
    assert refusal(missing_followed) == (1, "", "campaign 999999999 does not exist")
    assert refusal(draft_followed) == (
        1,
        "",
        f"campaign {draft} is draft; send it with `nurture campaigns send {draft}`",
    )
    assert refusal(unreachable) == (
        1,
        "",
        f"Cannot reach Temporal at 127.0.0.1:1 (namespace default): Connection refused; "
        f"campaign {draft} is still a draft",
    )
    row = _row(settings, draft)
    assert (row.status, row.workflow_id) == (CampaignStatus.DRAFT, None)
    assert refusal(not_draft) == (1, "", f"campaign {paused} is paused; only a draft campaign can be sent")
