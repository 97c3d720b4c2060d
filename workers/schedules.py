"""The Temporal Schedules the worker keeps: the daily `nurture-date-triggers`, made idempotently."""

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from nurture.automations.date_triggers import DateTriggerInput
from nurture.settings import Settings
from nurture.temporal import search_attributes

log = logging.getLogger("nurture.worker")

DATE_TRIGGERS_SCHEDULE = "nurture-date-triggers"
# Each day's workflow id is this plus its scheduled time: `date-triggers-2025-03-01T00:00:00Z`.
DATE_TRIGGERS_WORKFLOW = "date-triggers"
# Days missed while Temporal was down are still run, up to a week late; older ones are dropped.
CATCHUP_WINDOW = timedelta(days=7)


def date_trigger_schedule(settings: Settings) -> Schedule:
    """Daily at 00:00 UTC, start DateTriggerWorkflow for that day on the main task queue.

    Missed days within CATCHUP_WINDOW run one after the other (BUFFER_ALL), each for its own day.
    """
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "DateTriggerWorkflow",
            DateTriggerInput(),
            id=DATE_TRIGGERS_WORKFLOW,
            task_queue=settings.task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(search_attributes.KIND, "date_triggers")]
            ),
            static_summary="Date triggers: enroll the contacts whose date fields reach this day",
        ),
        # The calendar's defaults: second 0, minute 0, hour 0, every day.
        spec=ScheduleSpec(calendars=[ScheduleCalendarSpec()], time_zone_name="UTC"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCHUP_WINDOW),
    )


def _same(current: Schedule, wanted: Schedule) -> bool:
    action, goal = current.action, wanted.action
    assert isinstance(goal, ScheduleActionStartWorkflow)
    return (
        isinstance(action, ScheduleActionStartWorkflow)
        and (action.workflow, action.id, action.task_queue) == (goal.workflow, goal.id, goal.task_queue)
        and list(current.spec.calendars) == list(wanted.spec.calendars)
        and current.spec.time_zone_name == wanted.spec.time_zone_name
        and (current.policy.overlap, current.policy.catchup_window)
        == (wanted.policy.overlap, wanted.policy.catchup_window)
    )


async def ensure_date_trigger_schedule(client: Client, settings: Settings) -> bool:
    """Create the `nurture-date-triggers` schedule, or bring an existing one up to date.

    An existing schedule keeps its state (an operator's pause and note) and is only written when
    its action, times or policy differ. Every worker calls this at start. Returns False, doing
    nothing, on a server without schedules (the time-skipping test server).
    """
    wanted = date_trigger_schedule(settings)
    try:
        await client.create_schedule(DATE_TRIGGERS_SCHEDULE, wanted)
        log.info("Created schedule %s on %s", DATE_TRIGGERS_SCHEDULE, settings.task_queue)
        return True
    except ScheduleAlreadyRunningError:
        pass
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        log.warning("This Temporal server has no schedules: date triggers will not run (%s)", error)
        return False

    def update(input: ScheduleUpdateInput) -> ScheduleUpdate | None:
        current = input.description.schedule
        if _same(current, wanted):
            return None
        log.info("Updating schedule %s to run on %s", DATE_TRIGGERS_SCHEDULE, settings.task_queue)
        wanted.state = current.state
        return ScheduleUpdate(schedule=wanted)

    await client.get_schedule_handle(DATE_TRIGGERS_SCHEDULE).update(update)
    return True
