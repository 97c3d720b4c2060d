"""What an automation run carries and reports: its input, state, signals, updates and checks.

Pure pydantic, shared by the workflow (through the sandbox), its activities and the API.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from nurture.automations.conditions import Condition
from nurture.automations.definition import Definition, Exit


class SentEmail(BaseModel):
    """The latest email a send step sent in this run."""

    key: str
    message_id: int | None
    status: str
    sent_at: datetime


class Visit(BaseModel):
    """A step the run entered, and when."""

    step: str
    at: datetime


class ContactChange(BaseModel):
    """What a tag, set-field or list step changes on the run's contact."""

    contact_id: int
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    subscribe_list: int | None = None
    unsubscribe_list: int | None = None
    source: str
    # The run making the change: it is not told of its own change.
    workflow_id: str | None = None


class RunState(BaseModel):
    """Everything a run remembers; carried across continue-as-new."""

    run_id: int | None = None
    started_at: datetime
    visits: dict[str, int] = Field(default_factory=dict)
    sends: dict[str, SentEmail] = Field(default_factory=dict)
    goals_reached: list[str] = Field(default_factory=list)
    # The last steps entered, newest last (bounded: the history of a long loop is in Temporal).
    passed: list[Visit] = Field(default_factory=list)
    timezone: str | None = None
    paused: bool = False
    # Steps entered since the run last wrote to the database; written with its next check or end.
    unrecorded: list[Visit] = Field(default_factory=list)
    # Contact steps passed since then, applied with that same write (and before it reads).
    pending: list[ContactChange] = Field(default_factory=list)


class RunInput(BaseModel):
    """Start (or continue) one contact's run through one version of an automation."""

    automation_id: int
    automation_name: str
    version_id: int
    version_number: int
    contact_id: int
    definition: Definition
    # The run's row in automation_runs, written when the contact was enrolled.
    run_id: int | None = None
    entry_value: str | None = None
    # Where to carry on after continue-as-new; the first step when absent.
    resume_at: str | None = None
    state: RunState | None = None
    email_task_queue: str


class RunOutcome(BaseModel):
    """How a run ended: completed, exited (and why), or with the goals it reached."""

    status: str
    reason: str | None = None
    goals_reached: list[str] = Field(default_factory=list)
    last_step: str | None = None


class ContactEventSignal(BaseModel):
    """A custom event about the run's contact (`POST /events`)."""

    name: str
    properties: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime


class MigrateRequest(BaseModel):
    """Move a run to another version of its automation, at the step with the same id."""

    version_id: int
    version_number: int
    definition: Definition


class MigrateResult(BaseModel):
    """The run moved, at this step."""

    step: str | None
    version_number: int


class RunView(BaseModel):
    """What the `state` query returns: where the run is and where it has been."""

    automation_id: int
    version_number: int
    contact_id: int
    current_step: str | None
    paused: bool
    goals_reached: list[str]
    sends: dict[str, SentEmail]
    passed: list[Visit]


class ContactChanged(BaseModel):
    """What a contact step really changed, and whom it concerns: the contact's other running runs,
    and the active automations the change triggers (their entry rules decide)."""

    done: list[str] = Field(default_factory=list)
    runs: list[str] = Field(default_factory=list)
    automations: list[int] = Field(default_factory=list)


class ContactDispatch(BaseModel):
    """Tell the contact's other runs of a change (`contact_changed`) and start what it triggers."""

    contact_id: int
    runs: list[str] = Field(default_factory=list)
    automations: list[int] = Field(default_factory=list)


class CheckRequest(BaseModel):
    """Enter a step (recorded on the run's row) and evaluate what can redirect the run there."""

    run_id: int | None
    automation_id: int
    version_id: int
    contact_id: int
    workflow_id: str
    entry_value: str | None = None
    step: str | None
    started_at: datetime
    now: datetime
    exits: list[Exit] = Field(default_factory=list)
    # Goals not reached yet, by step id, in definition order.
    goals: dict[str, Condition] = Field(default_factory=dict)
    condition: Condition | None = None
    sends: dict[str, SentEmail] = Field(default_factory=dict)
    record: bool = True
    # The run is entering `step` now: its entry is written (or the entry of the goal it jumps to).
    entering: bool = False
    # Steps the run passed through since it last wrote, written as entries too.
    passed: list[Visit] = Field(default_factory=list)
    # Contact steps passed since then: applied first, so the checks see them.
    changes: list[ContactChange] = Field(default_factory=list)


class CheckResult(BaseModel):
    """The run's row id, and what the check found: an exit, a goal met, the step's condition."""

    run_id: int | None
    exit: str | None = None
    goal: str | None = None
    condition: bool | None = None
    timezone: str | None = None
    # What the request's contact changes did, and whom they concern.
    changed: ContactChanged | None = None


class RunFinished(BaseModel):
    """Record a run's end on its row."""

    run_id: int | None
    status: str
    outcome: str | None
    step: str | None
    ended_at: datetime
    # Steps the run passed through since it last wrote, written as entries.
    passed: list[Visit] = Field(default_factory=list)
    # Contact steps passed since then, applied before the run is recorded as ended.
    changes: list[ContactChange] = Field(default_factory=list)


class WebhookCall(BaseModel):
    """An outbound HTTP call a webhook step makes, with the run's contact in the body."""

    url: str
    method: str
    body: dict[str, Any] | None
    timeout_seconds: float
    contact_id: int
    automation_id: int
    step: str
    idempotency_key: str


class NextTime(BaseModel):
    """Ask for the next time of day on chosen weekdays in a time zone (zone data is I/O)."""

    now: datetime
    time_of_day: str | None
    weekdays: list[str] | None
    timezone: str | None
