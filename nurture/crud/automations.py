"""Automations and their immutable versions: create, save, status changes, delete, runs and report counts."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Select, and_, case, distinct, func, select
from sqlalchemy.orm import Session

from nurture.automations.check import stored
from nurture.automations.definition import Definition
from nurture.crud.search import matches
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    RunStatus,
    StepEntry,
)

StatusAction = Literal["activate", "pause", "resume", "archive"]

# For each action: the statuses it applies to, and the status it leads to.
TRANSITIONS: dict[StatusAction, tuple[frozenset[AutomationStatus], AutomationStatus]] = {
    "activate": (frozenset({AutomationStatus.DRAFT}), AutomationStatus.ACTIVE),
    "pause": (frozenset({AutomationStatus.ACTIVE}), AutomationStatus.PAUSED),
    "resume": (frozenset({AutomationStatus.PAUSED}), AutomationStatus.ACTIVE),
    "archive": (frozenset(AutomationStatus), AutomationStatus.ARCHIVED),
}


class AutomationConflict(Exception):
    """An automation cannot do this in its current state; the message says why."""


def get_automation(session: Session, *, automation_id: int) -> Automation | None:
    """The automation with this id."""
    return session.get(Automation, automation_id)


def get_automation_by_name(session: Session, *, name: str) -> Automation | None:
    """The automation with this name, ignoring case."""
    return session.scalar(select(Automation).where(func.lower(Automation.name) == name.strip().lower()))


def filter_automations(
    *, status: AutomationStatus | None = None, search: str | None = None
) -> Select[Automation]:
    """A query for automations in this status whose name contains `search`, ignoring case."""
    query = select(Automation)
    if status is not None:
        query = query.where(Automation.status == status)
    if search:
        query = query.where(matches(search, Automation.name))
    return query


def list_automations(
    session: Session, *, status: AutomationStatus | None = None, search: str | None = None
) -> list[Automation]:
    """Automations, oldest first, optionally filtered."""
    return list(session.scalars(filter_automations(status=status, search=search).order_by(Automation.id)))


def create_automation(
    session: Session, *, name: str, definition: Definition, status: AutomationStatus = AutomationStatus.DRAFT
) -> tuple[Automation, AutomationVersion]:
    """Insert an automation and its version 1; callers check the name is free and the definition sound."""
    automation = Automation(name=name.strip(), status=status)
    session.add(automation)
    session.flush()
    version = AutomationVersion(automation_id=automation.id, number=1, definition=stored(definition))
    session.add(version)
    session.flush()
    return automation, version


def save_version(session: Session, *, automation: Automation, definition: Definition) -> AutomationVersion:
    """Save a definition as the automation's next version; new runs start on it, running ones keep theirs.

    Raises:
        AutomationConflict: the automation is archived.
    """
    if automation.status == AutomationStatus.ARCHIVED:
        raise AutomationConflict(f"automation {automation.id} is archived; it takes no new versions")
    latest = latest_version(session, automation_id=automation.id)
    version = AutomationVersion(
        automation_id=automation.id,
        number=(latest.number if latest else 0) + 1,
        definition=stored(definition),
    )
    session.add(version)
    session.flush()
    return version


def same_definition(version: AutomationVersion, definition: Definition) -> bool:
    """Whether a saved version holds this definition (defaults written out or not)."""
    return version.definition == stored(definition)


def get_versions(session: Session, *, automation_id: int) -> list[AutomationVersion]:
    """Every version of an automation, first to latest."""
    query = select(AutomationVersion).where(AutomationVersion.automation_id == automation_id)
    return list(session.scalars(query.order_by(AutomationVersion.number)))


def filter_versions(*, automation_id: int) -> Select[AutomationVersion]:
    """A query for an automation's versions."""
    return select(AutomationVersion).where(AutomationVersion.automation_id == automation_id)


def get_version(session: Session, *, automation_id: int, number: int) -> AutomationVersion | None:
    """The version with this number."""
    return session.scalar(
        filter_versions(automation_id=automation_id).where(AutomationVersion.number == number)
    )


def latest_version(session: Session, *, automation_id: int) -> AutomationVersion | None:
    """The highest-numbered version: the one new runs start on."""
    query = filter_versions(automation_id=automation_id).order_by(AutomationVersion.number.desc()).limit(1)
    return session.scalar(query)


def latest_numbers(session: Session, *, automation_ids: Sequence[int]) -> dict[int, int]:
    """The latest version number of each of these automations."""
    rows = session.execute(
        select(AutomationVersion.automation_id, func.max(AutomationVersion.number))
        .where(AutomationVersion.automation_id.in_(automation_ids))
        .group_by(AutomationVersion.automation_id)
    )
    return {automation_id: number for automation_id, number in rows}


def rename_automation(session: Session, *, automation: Automation, name: str) -> Automation:
    """Rename an automation; callers check the name is free."""
    automation.name = name.strip()
    session.flush()
    return automation


def change_status(session: Session, *, automation: Automation, action: StatusAction) -> Automation:
    """Activate (draft), pause (active), resume (paused) or archive (any) an automation.

    Archiving an archived automation changes nothing.

    Raises:
        AutomationConflict: the action does not apply to the current status, which the message names.
    """
    allowed, to = TRANSITIONS[action]
    if automation.status not in allowed:
        raise AutomationConflict(
            f"automation {automation.id} is {automation.status.value}; only a "
            f"{' or '.join(sorted(s.value for s in allowed))} automation can {action}"
        )
    automation.status = to
    session.flush()
    return automation


def count_running(session: Session, *, automation_id: int) -> int:
    """How many runs of this automation are running."""
    query = select(func.count()).where(
        AutomationRun.automation_id == automation_id, AutomationRun.status == RunStatus.RUNNING
    )
    return session.scalar(query) or 0


def delete_automation(session: Session, *, automation: Automation) -> None:
    """Delete a draft or archived automation with no running runs, its versions and past runs with it.

    Raises:
        AutomationConflict: it is active or paused, or contacts are still running through it.
    """
    if automation.status in (AutomationStatus.ACTIVE, AutomationStatus.PAUSED):
        raise AutomationConflict(
            f"automation {automation.id} is {automation.status.value}; archive it before deleting it"
        )
    running = count_running(session, automation_id=automation.id)
    if running:
        raise AutomationConflict(f"automation {automation.id} still has {running} running run(s)")
    session.delete(automation)
    session.flush()


def filter_runs(
    *, automation_id: int, status: RunStatus | None = None, current_step: str | None = None
) -> Select[AutomationRun]:
    """A query for an automation's runs in this status and at this step."""
    query = select(AutomationRun).where(AutomationRun.automation_id == automation_id)
    if status is not None:
        query = query.where(AutomationRun.status == status)
    if current_step is not None:
        query = query.where(AutomationRun.current_step == current_step)
    return query


def list_runs(
    session: Session, *, automation_id: int, status: RunStatus | None = None, current_step: str | None = None
) -> list[AutomationRun]:
    """An automation's runs, newest first, optionally filtered."""
    query = filter_runs(automation_id=automation_id, status=status, current_step=current_step)
    return list(session.scalars(query.order_by(AutomationRun.id.desc())))


def version_numbers(session: Session, *, version_ids: Sequence[int]) -> dict[int, int]:
    """The number of each of these versions, by version id."""
    rows = session.execute(
        select(AutomationVersion.id, AutomationVersion.number).where(AutomationVersion.id.in_(version_ids))
    )
    return {version_id: number for version_id, number in rows}


@dataclass
class RunCounts:
    """What the report counts, from the runs table.

    Attributes:
        by_status: runs per status (every status present, zero or not).
        waiting: running runs per current step.
        ended: completed, exited or failed runs per the step they were at when they ended.
        goals: runs that reached each goal, by goal step id.
        entered: distinct runs with a recorded entry into each step, by step id.
        completed: of those, the runs not running at that step now (ended there, or moved on).
    """

    by_status: dict[RunStatus, int] = field(default_factory=lambda: dict.fromkeys(RunStatus, 0))
    waiting: dict[str, int] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    goals: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    completed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Every run that entered."""
        return sum(self.by_status.values())


def run_counts(session: Session, *, automation_id: int) -> RunCounts:
    """Per-status, per-step and per-goal counts of an automation's runs, and per-step entries."""
    counts = RunCounts()
    rows = session.execute(
        select(AutomationRun.status, AutomationRun.current_step, func.count())
        .where(AutomationRun.automation_id == automation_id)
        .group_by(AutomationRun.status, AutomationRun.current_step)
    )
    for status, step, count in rows:
        counts.by_status[status] += count
        if step is not None:
            bucket = counts.waiting if status == RunStatus.RUNNING else counts.ended
            bucket[step] = bucket.get(step, 0) + count
    # The workflow records a reached goal as the outcome "goal:<step id>".
    goal_rows = session.execute(
        select(AutomationRun.outcome, func.count())
        .where(AutomationRun.automation_id == automation_id, AutomationRun.outcome.startswith("goal:"))
        .group_by(AutomationRun.outcome)
    )
    for outcome, count in goal_rows:
        goal = (outcome or "").removeprefix("goal:").strip()
        counts.goals[goal] = counts.goals.get(goal, 0) + count
    # Joined to the runs rather than subtracting `waiting`: runs from before entries were recorded
    # wait at steps with no entry, and must not make another run's entry look unfinished.
    still_here = and_(AutomationRun.status == RunStatus.RUNNING, AutomationRun.current_step == StepEntry.step)
    entry_rows = session.execute(
        select(
            StepEntry.step,
            func.count(distinct(StepEntry.run_id)),
            func.count(distinct(case((still_here, StepEntry.run_id)))),
        )
        .join(AutomationRun, AutomationRun.id == StepEntry.run_id)
        .where(StepEntry.automation_id == automation_id)
        .group_by(StepEntry.step)
    )
    for step, entered, here in entry_rows:
        counts.entered[step] = entered
        counts.completed[step] = entered - here
    return counts
