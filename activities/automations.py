"""AutomationActivities: what a run asks of the world: checks, contact changes, webhooks, its row."""

from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from nurture.automations.enroll import enroll
from nurture.automations.evaluate import Moment, exit_reason, holds
from nurture.automations.runs import (
    CheckRequest,
    CheckResult,
    ContactChange,
    NextTime,
    RunFinished,
    WebhookCall,
)
from nurture.automations.schedule import next_time_of_day
from nurture.crud.contacts import get_contact, update_contact
from nurture.crud.lists import get_list, set_subscription
from nurture.crud.tags import add_tag, remove_tag
from nurture.db.models import AutomationRun, RunStatus, SubscriptionStatus
from nurture.db.session import transaction
from nurture.settings import Settings


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
        """Record the step the run is at, and check its exits, goals and the step's condition.

        One activity per step on purpose: it is the run's only database round trip there.
        """
        with transaction(self._sessions) as session:
            row = _run_row(session, request) if request.record else None
            if row is not None:
                row.current_step = request.step
                row.version_id = request.version_id
                session.flush()
            run_id = row.id if row is not None else request.run_id
            contact = get_contact(session, contact_id=request.contact_id)
            if contact is None:
                return CheckResult(run_id=run_id, exit="exit: the contact was deleted")
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
            return CheckResult(
                run_id=run_id, exit=reason, goal=goal, condition=met, timezone=contact.timezone
            )

    @activity.defn(name="finish_run")
    def finish_run(self, finished: RunFinished) -> None:
        """Record how a run ended on its row."""
        with transaction(self._sessions) as session:
            row = session.get(AutomationRun, finished.run_id) if finished.run_id else None
            if row is None:
                return
            row.status = RunStatus(finished.status)
            row.outcome = (finished.outcome or "")[:500] or None
            row.current_step = finished.step
            row.ended_at = finished.ended_at

    @activity.defn(name="change_contact")
    def change_contact(self, change: ContactChange) -> list[str]:
        """Apply a tag, field or list step to the contact; returns what changed, for the history."""
        done: list[str] = []
        with transaction(self._sessions) as session:
            contact = get_contact(session, contact_id=change.contact_id)
            if contact is None:
                return ["contact deleted: nothing changed"]
            for tag in change.add_tags:
                if add_tag(session, contact=contact, name=tag):
                    done.append(f"tagged {tag}")
            for tag in change.remove_tags:
                if remove_tag(session, contact=contact, name=tag):
                    done.append(f"untagged {tag}")
            if change.fields:
                builtin = {
                    k: v for k, v in change.fields.items() if k in ("first_name", "last_name", "phone")
                }
                custom = {k: v for k, v in change.fields.items() if k not in builtin}
                changes = dict(builtin)
                if custom:
                    changes["custom_fields"] = custom
                done += [f"set {name}" for name in update_contact(session, contact=contact, changes=changes)]
            for list_id, status in (
                (change.subscribe_list, SubscriptionStatus.SUBSCRIBED),
                (change.unsubscribe_list, SubscriptionStatus.UNSUBSCRIBED),
            ):
                if list_id is None:
                    continue
                if get_list(session, list_id=list_id) is None:
                    raise ApplicationError(
                        f"list {list_id} does not exist", type="ListNotFound", non_retryable=True
                    )
                set_subscription(
                    session,
                    list_id=list_id,
                    contact_id=contact.id,
                    status=status,
                    consent_source=change.source,
                )
                done.append(f"{status.value} list {list_id}")
        return done

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
