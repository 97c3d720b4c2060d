"""The one check a definition passes before it is saved: its shape, its graph, and what it names."""

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from nurture.automations.definition import Definition
from nurture.automations.graph import check_graph
from nurture.automations.problems import DefinitionRefused, Problem, from_validation_error
from nurture.automations.references import check_references


def parse_definition(raw: Any) -> Definition:
    """The definition in `raw` (JSON or YAML data), or DefinitionRefused listing what pydantic refused."""
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionRefused(from_validation_error(raw, exc)) from exc


def check_definition(session: Session, raw: Any, *, automation_id: int | None = None) -> Definition:
    """The definition in `raw`, once its shape, step graph and references are all sound.

    Args:
        session: where templates, lists, users and automations are looked up.
        raw: the definition as sent (a JSON object, or data read from YAML).
        automation_id: the automation it is saved to, when that exists already.

    Raises:
        DefinitionRefused: with every problem found; a bad shape stops before the other checks.
    """
    definition = parse_definition(raw)
    problems: list[Problem] = check_graph(definition) + check_references(
        session, definition, automation_id=automation_id
    )
    if problems:
        raise DefinitionRefused(problems)
    return definition


def stored(definition: Definition) -> dict[str, Any]:
    """The JSON a version stores: every default written out, so a later change of default cannot
    change what a saved version means."""
    return definition.model_dump(mode="json", by_alias=True)
