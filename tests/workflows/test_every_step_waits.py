"""wait_until steps (a date; 09:00 on weekdays in the contact's time zone) and the per-step entries a
run writes, on the time-skipping server with the real database."""

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from nurture.automations.runs import RunOutcome, RunView
from nurture.db.models import RunStatus
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.automation_world import World, world_on

SATURDAY = 5


@pytest.fixture
async def world(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[World]:
    async with world_on(time_skipping, settings, postmark_server, indexed=False) as world:
        yield world


def entered(view: RunView, step: str) -> datetime:
    [at] = [visit.at for visit in view.passed if visit.step == step]
    return at


async def test_wait_until_a_date_holds_the_run_until_then_and_a_past_date_not_at_all(world: World) -> None:
    now = await world.env.get_current_time()
    date = (now + timedelta(days=3, hours=5)).replace(microsecond=0)
    automation = world.automation(
        "Webinar day",
        {
            "steps": [
                {"id": "long-ago", "type": "wait_until", "date": "2020-01-01T00:00:00+00:00"},
                {"id": "webinar", "type": "wait_until", "date": date.isoformat()},
                {"id": "reminded", "type": "tag", "add": ["webinar reminded"]},
            ]
        },
    )
    contact = world.contact("date@example.com")
    handle = await world.enroll(automation, contact)
    outcome: RunOutcome = await handle.result()
    view: RunView = await handle.query("state", result_type=RunView)
    assert outcome.status == "completed" and outcome.last_step == "reminded"
    assert entered(view, "webinar") - entered(view, "long-ago") < timedelta(seconds=5)
    assert date <= entered(view, "reminded") < date + timedelta(minutes=1)
    assert world.now(contact).tags == ["webinar reminded"]


@pytest.mark.parametrize(
    ("timezone", "zone"), [("Asia/Tokyo", ZoneInfo("Asia/Tokyo")), (None, UTC)], ids=["tokyo", "no-zone"]
)
async def test_wait_until_nine_on_a_weekday_waits_for_monday_9_00_in_the_contacts_time_zone(
    world: World, timezone: str | None, zone: ZoneInfo
) -> None:
    # Enter the step on a Saturday at noon (Tokyo), when the next weekday 09:00 is two days away.
    now = (await world.env.get_current_time()).astimezone(ZoneInfo("Asia/Tokyo"))
    saturday = now.date() + timedelta(days=(SATURDAY - now.weekday()) % 7 or 7)
    noon = datetime.combine(saturday, time(12), ZoneInfo("Asia/Tokyo"))
    await world.env.sleep(noon - now)
    automation = world.automation(
        "Weekday morning",
        {
            "steps": [
                {
                    "id": "morning",
                    "type": "wait_until",
                    "time_of_day": "09:00",
                    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                },
                {"id": "sent", "type": "tag", "add": ["morning"]},
            ]
        },
    )
    handle = await world.enroll(automation, world.contact("nine@example.com", timezone=timezone))
    outcome: RunOutcome = await handle.result()
    view: RunView = await handle.query("state", result_type=RunView)
    assert outcome.status == "completed"
    waited_from = entered(view, "morning").astimezone(zone)
    assert waited_from.weekday() in (SATURDAY, SATURDAY + 1)
    # The first weekday 09:00 after it, in the contact's zone (UTC without one): Monday.
    woke = entered(view, "sent").astimezone(zone)
    assert woke.weekday() == 0 and (woke.hour, woke.minute) == (9, 0)
    assert timedelta(0) < woke - waited_from < timedelta(days=3)


@pytest.mark.parametrize("exits", [[], [{"type": "tag_added", "tag": "churned"}]], ids=["lean", "with-exit"])
async def test_each_step_a_run_enters_is_written_once_and_the_run_row_shows_its_wait(
    world: World, exits: list[dict[str, str]]
) -> None:
    automation = world.automation(
        "Entries",
        {
            "exits": exits,
            "steps": [
                {
                    "id": "pro",
                    "type": "if",
                    "condition": {"type": "field", "field": "plan", "value": "pro"},
                    "then": "tag-it",
                    "else": "cold",
                },
                {"id": "tag-it", "type": "tag", "add": ["pro"]},
                {"id": "week", "type": "wait", "duration": "7d"},
                {"id": "done", "type": "end"},
                {"id": "cold", "type": "tag", "add": ["cold"], "next": "week"},
            ],
        },
    )
    contact = world.contact("entries@example.com", custom_fields={"plan": "pro"})
    handle = await world.enroll(automation, contact)
    view = await world.until_at(handle, "week")
    assert [visit.step for visit in view.passed] == ["pro", "tag-it", "week"]
    assert Counter(world.entries(handle.id)) == {"pro": 1, "tag-it": 1, "week": 1}
    row = world.run_row(handle.id)
    assert (row.status, row.current_step) == (RunStatus.RUNNING, "week")
    assert world.now(contact).tags == ["pro"]

    await handle.result()
    assert Counter(world.entries(handle.id)) == {"pro": 1, "tag-it": 1, "week": 1, "done": 1}
    row = world.run_row(handle.id)
    assert (row.status, row.current_step) == (RunStatus.COMPLETED, "done")
