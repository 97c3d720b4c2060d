"""Checks that the templates, lists, users and automations a definition names exist."""

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.automations.conditions import OnList, walk_paths
from nurture.automations.definition import (
    ChangeList,
    Definition,
    ExitOnLeavingList,
    Goal,
    If,
    ListSubscribed,
    NotifyUser,
    OneToOneReplied,
    SendEmail,
    StartAutomation,
    WaitFor,
)
from nurture.automations.problems import Loc, Problem, problem
from nurture.db.models import Automation, MailingList, Template, TemplateKind, User


def check_references(
    session: Session, definition: Definition, *, automation_id: int | None = None
) -> list[Problem]:
    """Every reference in a definition to a row that does not exist, or cannot be used there.

    Args:
        session: where templates, lists, users and automations are looked up.
        definition: the definition to check.
        automation_id: the automation the definition is saved to, when it exists already, so a
            start_automation step cannot start its own automation.
    """
    templates = _template_kinds(session, _ids(definition, "template"))
    lists = _existing(session, MailingList, _ids(definition, "list"))
    users = _existing(session, User, _ids(definition, "user"))
    automations = _existing(session, Automation, _ids(definition, "automation"))
    found: list[Problem] = []
    for loc, kind, value, step_id in _references(definition):
        exists = {"template": templates, "list": lists, "user": users, "automation": automations}[kind]
        if value not in exists:
            found.append(problem(loc, f"{kind} {value} does not exist", step_id=step_id))
        elif kind == "automation" and value == automation_id:
            found.append(problem(loc, "an automation cannot start itself", step_id=step_id))
    for i, step in enumerate(definition.steps):
        if (
            isinstance(step, SendEmail)
            and step.from_owner is not None
            and (step.list_id or step.kind == "marketing")
        ):
            text = "a 1:1 email from the owner is personal: no list, no marketing kind"
            found.append(problem(("steps", i, "from_owner"), text, step_id=step.id))
            continue
        if isinstance(step, SendEmail) and step.list_id is not None and step.template_id in templates:
            kind = step.kind or templates[step.template_id].value
            if kind != TemplateKind.MARKETING:
                text = "only marketing email is sent for a list; this email is transactional"
                found.append(problem(("steps", i, "list_id"), text, step_id=step.id))
    return found


def _references(definition: Definition) -> Iterator[tuple[Loc, str, int, str | None]]:
    """(path, kind of row, id, step id) for every id the definition names."""
    for i, trigger in enumerate(definition.triggers):
        if isinstance(trigger, ListSubscribed):
            yield ("triggers", i, "list_id"), "list", trigger.list_id, None
        elif isinstance(trigger, OneToOneReplied) and trigger.user_id is not None:
            yield ("triggers", i, "user_id"), "user", trigger.user_id, None
    for i, exit_ in enumerate(definition.exits):
        if isinstance(exit_, ExitOnLeavingList):
            yield ("exits", i, "list_id"), "list", exit_.list_id, None
    for i, step in enumerate(definition.steps):
        here: Loc = ("steps", i)
        if isinstance(step, SendEmail):
            yield (*here, "template_id"), "template", step.template_id, step.id
            if step.list_id is not None:
                yield (*here, "list_id"), "list", step.list_id, step.id
        elif isinstance(step, NotifyUser):
            yield (*here, "template_id"), "template", step.template_id, step.id
            if step.user_id is not None:
                yield (*here, "user_id"), "user", step.user_id, step.id
        elif isinstance(step, ChangeList):
            yield (*here, "list_id"), "list", step.list_id, step.id
        elif isinstance(step, StartAutomation):
            yield (*here, "automation_id"), "automation", step.automation_id, step.id
        elif isinstance(step, If | WaitFor | Goal):
            for loc, condition in walk_paths(step.condition, (*here, "condition")):
                if isinstance(condition, OnList):
                    yield (*loc, "list_id"), "list", condition.list_id, step.id


def _ids(definition: Definition, kind: str) -> set[int]:
    return {value for _, found, value, _ in _references(definition) if found == kind}


def _existing(session: Session, model: Any, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.scalars(select(model.id).where(model.id.in_(ids))))


def _template_kinds(session: Session, ids: set[int]) -> dict[int, TemplateKind]:
    if not ids:
        return {}
    rows = session.execute(select(Template.id, Template.kind).where(Template.id.in_(ids)))
    return {template_id: kind for template_id, kind in rows}
