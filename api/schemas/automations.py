"""Automation request and response models; definitions travel as JSON objects checked on save."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from nurture.db.models import Automation, AutomationRun, AutomationStatus, AutomationVersion, RunStatus
from nurture.schemas.fields import Input, Name, Output, not_null

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
    """One step: how many contacts wait there now, and how many runs ended there.

    `type` and `name` are null for a step only older versions have.
    """

    id: str
    type: str | None
    name: str | None
    waiting_now: int
    ended_here: int


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
