"""AutomationActivities: what a run asks of the world: checks, contact changes, webhooks, its row."""

from datetime import datetime

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contact_changes import apply_contact_changes
from nurture.automations.enroll import enroll
from nurture.automations.evaluate import Moment, exit_reason, holds
from nurture.automations.runs import (
    CheckRequest,
    CheckResult,
    ContactChanged,
    NextTime,
    RunFinished,
    Visit,
    WebhookCall,
)
from nurture.automations.schedule import next_time_of_day
from nurture.crud.contacts import get_contact_for_work
from nurture.db.models import AutomationRun, RunStatus, StepEntry
from nurture.db.session import transaction
from nurture.settings import Settings


def _record_entries(session: Session, run_id: int, automation_id: int, visits: list[Visit]) -> None:
    session.add_all(
        StepEntry(run_id=run_id, automation_id=automation_id, step=visit.step, entered_at=visit.at)
        for visit in visits
    )


def _run_row(session: Session, request: CheckRequest) -> AutomationRun:
    row = session.get(AutomationRun, request.run_id) if request.run_id else None
    if row is None:
        row = session.scalar(select(AutomationRun).where(AutomationRun.workflow_id == request.workflow_id))
    if row is None:
        row = AutomationRun(
            automation_id=request.automation_id,
            version_id=request.version_id,
            contact_id=request.contact_id,
            workflow_id=request.workflow_id,
            entry_value=request.entry_value,
            status=RunStatus.RUNNING,
            started_at=request.started_at,
        )
        session.add(row)
    return row


def _record_step(session: Session, request: CheckRequest, step: str | None) -> int:
    """Write where the run is: one UPDATE of the row enrolling wrote, or the row where it has none."""
    if request.run_id is not None:
        updated = session.execute(
            update(AutomationRun)
            .where(AutomationRun.id == request.run_id)
            .values(current_step=step, version_id=request.version_id)
        )
        if updated.rowcount:  # type: ignore[attr-defined]
            return request.run_id
    row = _run_row(session, request)
    row.current_step = step
    row.version_id = request.version_id
    session.flush()
    return row.id


class AutomationActivities:
    """Activities of automation runs; built once per worker around the database."""

    def __init__(self, *, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings

    @activity.defn(name="start_automation_for_contact")
    async def start_automation_for_contact(self, automation_id: int, contact_id: int) -> str:
        """Enroll the contact in another automation (its entry rule decides); says what happened."""
        enrollment = await enroll(
            activity.client(),
            self._sessions,
            self._settings,
            automation_id=automation_id,
            contact_id=contact_id,
        )
        return "started" if enrollment.started else f"not started: {enrollment.reason}"

    @activity.defn(name="enter_step")
    def enter_step(self, request: CheckRequest) -> CheckResult:
        """Record the step the run is at (and the steps it passed since it last wrote), and check
        its exits, goals and the step's condition.

        One activity on purpose: it is the run's only database round trip at a step.
        """
        with transaction(self._sessions) as session:
            # The run's contact steps since its last check come first: the checks must see them.
            changed = apply_contact_changes(session, request.changes) if request.changes else None
            contact = get_contact_for_work(session, contact_id=request.contact_id)
            if contact is None:
                return CheckResult(
                    run_id=request.run_id, exit="exit: the contact was deleted", changed=changed
                )
            moment = Moment(now=request.now, started_at=request.started_at, sends=request.sends)
            reason = exit_reason(session, contact=contact, exits=request.exits, moment=moment)
            goal = next(
                (
                    step
                    for step, condition in request.goals.items()
                    if holds(session, contact=contact, condition=condition, moment=moment)
                ),
                None,
            )
            met = None
            if request.condition is not None:
                met = holds(session, contact=contact, condition=request.condition, moment=moment)
            run_id = request.run_id
            if request.record:
                # Entering a step whose goal elsewhere is met enters the goal instead.
                at = (goal or request.step) if request.entering else request.step
                run_id = _record_step(session, request, at)
                entered = [*request.passed]
                if request.entering and at is not None:
                    entered.append(Visit(step=at, at=request.now))
                _record_entries(session, run_id, request.automation_id, entered)
            return CheckResult(
                run_id=run_id,
                exit=reason,
                goal=goal,
                condition=met,
                timezone=contact.timezone,
                changed=changed,
            )

    @activity.defn(name="finish_run")
    def finish_run(self, finished: RunFinished) -> ContactChanged:
        """Record how a run ended on its row, after the contact steps it passed last."""
        with transaction(self._sessions) as session:
            changed = apply_contact_changes(session, finished.changes)
            row = session.get(AutomationRun, finished.run_id) if finished.run_id else None
            if row is None:
                return changed
            row.status = RunStatus(finished.status)
            row.outcome = (finished.outcome or "")[:500] or None
            row.current_step = finished.step
            row.ended_at = finished.ended_at
            _record_entries(session, row.id, row.automation_id, finished.passed)
            return changed

    @activity.defn(name="next_time_of_day")
    def next_time_of_day(self, request: NextTime) -> datetime:
        """The next time of day on the chosen weekdays in the contact's time zone, in UTC."""
        return next_time_of_day(
            request.now, time_of_day=request.time_of_day, weekdays=request.weekdays, timezone=request.timezone
        )

    @activity.defn(name="call_webhook")
    def call_webhook(self, call: WebhookCall) -> int:
        """Make a webhook step's HTTP call; 5xx and network errors retry, 4xx do not."""
        body = {
            "contact_id": call.contact_id,
            "automation_id": call.automation_id,
            "step": call.step,
            **(call.body or {}),
        }
        headers = {"Idempotency-Key": call.idempotency_key, "User-Agent": "Nurture-Webhook/1"}
        try:
            response = httpx.request(
                call.method,
                call.url,
                json=body if call.method != "GET" else None,
                headers=headers,
                timeout=call.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise ApplicationError(f"{call.method} {call.url}: {exc}", type="WebhookUnreachable") from exc
        if response.status_code >= 500:
            raise ApplicationError(f"{call.url} answered {response.status_code}", type="WebhookFailed")
        if response.status_code >= 400:
            raise ApplicationError(
                f"{call.url} answered {response.status_code}", type="WebhookRefused", non_retryable=True
            )
        return response.status_code
