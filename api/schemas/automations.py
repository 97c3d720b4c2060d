"""Automation request and response models; definitions travel as JSON objects checked on save."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    ContactStatus,
    RunStatus,
)
from nurture.schemas.contacts import TagName
from nurture.schemas.fields import Id, Input, Name, Output, not_null

# Checked by nurture.automations.check_definition, so that every problem names its step path.
DefinitionJson = dict[str, Any]
_DEFINITION = Field(
    description="The definition language: triggers, entry, exits, steps (docs/automations.md)"
)


class AutomationCreate(Input):
    """A new automation and its first version."""

    name: Name
    definition: DefinitionJson = _DEFINITION
    status: Literal["draft", "active"] = "draft"


class AutomationUpdate(Input):
    """A new name; the steps change through a new version."""

    name: Name | None = None

    _not_null = not_null("name")


class VersionCreate(Input):
    """A definition to save as the next version."""

    definition: DefinitionJson = _DEFINITION


class AutomationPublic(Output):
    """An automation with its latest version: the one new runs start on."""

    id: int
    name: str
    status: AutomationStatus
    version: int
    definition: DefinitionJson
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, automation: Automation, version: AutomationVersion) -> "AutomationPublic":
        """Build from a row and its latest version."""
        return cls(
            id=automation.id,
            name=automation.name,
            status=automation.status,
            version=version.number,
            definition=version.definition,
            created_at=automation.created_at,
            updated_at=automation.updated_at,
        )


class VersionPublic(Output):
    """One saved version, never changed."""

    number: int
    definition: DefinitionJson
    created_at: datetime


class RunPublic(Output):
    """One contact's run through the automation, with a link to its workflow in the Temporal UI."""

    id: int
    contact_id: int
    version: int
    status: RunStatus
    current_step: str | None
    outcome: str | None
    started_at: datetime
    ended_at: datetime | None
    workflow_id: str
    ui_url: str

    @classmethod
    def of(cls, run: AutomationRun, *, version: int, ui_url: str) -> "RunPublic":
        """Build from a row, its version number and its UI link."""
        return cls(
            id=run.id,
            contact_id=run.contact_id,
            version=version,
            status=run.status,
            current_step=run.current_step,
            outcome=run.outcome,
            started_at=run.started_at,
            ended_at=run.ended_at,
            workflow_id=run.workflow_id,
            ui_url=ui_url,
        )


class StepReport(Output):
    """One step: how many runs entered it, wait there now, moved on or ended there.

    `type` and `name` are null for a step only older versions have. `entered` and `completed` count
    the runs whose entry into the step was recorded, which runs started before those records began
    lack; `waiting_now` and `ended_here` count every run.
    """

    id: str
    type: str | None
    name: str | None
    entered: int = Field(
        description="Distinct runs that entered the step (a run that entered it more than once counts once)"
    )
    waiting_now: int = Field(description="Runs still running whose current step this is")
    completed: int = Field(
        description=(
            "Distinct runs that entered the step and are not at it now: `entered` minus those of them "
            "still running with this as their current step. A run that ended at this step (see "
            "`ended_here`) counts; one a loop brought back to wait here again does not"
        )
    )
    ended_here: int = Field(description="Completed, exited or failed runs whose last step this was")


class RunTotals(Output):
    """Runs by status."""

    entered: int
    running: int
    completed: int
    exited: int
    failed: int


class GoalReport(Output):
    """How many runs reached a goal, and what share of all runs that is (0 to 1)."""

    id: str
    reached: int
    conversion: float


class AutomationReport(Output):
    """Per-step counts, run totals and goal conversion."""

    steps: list[StepReport]
    runs: RunTotals
    goals: list[GoalReport]


class StatusChangePublic(AutomationPublic):
    """An automation after a status change; pausing and resuming also report the runs signalled.

    `warning` says when the change committed but Temporal could not be told.
    """

    signalled: int | None = None
    warning: str | None = None


class EnrollmentFilter(Input):
    """Contacts to enroll, filtered as `GET /contacts` filters them (every key given applies)."""

    tag: TagName | None = None
    status: ContactStatus | None = None
    list_id: Id | None = Field(default=None, description="Members of this list, whatever their status")
    q: str | None = Field(default=None, max_length=200, description="Search email and names")

    @model_validator(mode="after")
    def _something(self) -> "EnrollmentFilter":
        # An empty filter would take every contact; that must be asked for, not fallen into.
        if self.tag is None and self.status is None and self.list_id is None and not self.q:
            raise ValueError("give at least one of tag, status, list_id or q")
        return self


class EnrollmentCreate(Input):
    """Exactly one of: a contact (enrolled now), a list's subscribers or a filter (in the background)."""

    contact_id: Id | None = None
    list_id: Id | None = Field(default=None, description="Enroll the contacts subscribed to this list")
    filter: EnrollmentFilter | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "EnrollmentCreate":
        given = [self.contact_id, self.list_id, self.filter]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of contact_id, list_id or filter")
        return self


class EnrollmentAccepted(Output):
    """A bulk enrollment started in the background; follow it at `progress_url`."""

    id: str
    progress_url: str
    ui_url: str


class EnrollmentProgressPublic(Output):
    """How far a bulk enrollment has got: runs started, refusals by reason, failures.

    `refused` counts by category: `once`, `after_previous`, `per_value` (entry rules), `running` (a run
    already going), `inactive` (the automation stopped being active), `missing` (the contact was
    deleted meanwhile), `no_version`, `other`.
    """

    id: str
    automation_id: int
    status: str
    done: bool
    started: int
    refused: dict[str, int]
    refused_total: int
    failed: int
    errors: list[str]
    contacts_seen: int
    stopped: str | None
    started_at: datetime | None
    finished_at: datetime | None
    ui_url: str


class MigrateBody(Input):
    """The version to move running runs to; the latest when left out."""

    to_version: Id | None = None


class MovedRunPublic(Output):
    """A run now on the target version, at this step."""

    run_id: int
    workflow_id: str
    step: str | None


class NotMovedRunPublic(Output):
    """A run left on its version, and why."""

    run_id: int
    workflow_id: str
    reason: str


class MigrationPublic(Output):
    """Running runs on older versions: those moved to `version` and those left where they were."""

    version: int
    moved: list[MovedRunPublic]
    not_moved: list[NotMovedRunPublic]
