"""`nurture automations apply`: automations kept as YAML files, saved as new versions when they change."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from nurture.automations.check import check_definition
from nurture.automations.definition import Definition
from nurture.automations.problems import DefinitionRefused
from nurture.crud import automations as crud
from nurture.db.models import Automation, AutomationStatus

FILE_STATUSES = ("draft", "active")
_KEYS = {"name", "status", "definition"}


class _Loader(yaml.SafeLoader):
    """YAML as a marketer expects it: `time_of_day: 10:30` is text, not the base-60 number 630."""


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT, re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$"), list("-+0123456789.")
)


@dataclass
class Document:
    """One automation in a file: the n-th YAML document."""

    number: int
    name: str
    status: str | None
    definition: Any


class ApplyRefused(Exception):
    """A file that cannot be applied; `problems` holds one line per problem, each with its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_documents(path: Path) -> list[Document]:
    """The automations in a YAML file of one or more documents `{name, status?, definition}`.

    Raises:
        ApplyRefused: the file is not YAML, or a document lacks a name or definition.
    """
    try:
        raw = [
            doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader) if doc is not None
        ]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApplyRefused([f"not a YAML file: {' '.join(str(exc).split())}"]) from exc
    problems: list[str] = []
    documents = []
    names: dict[str, int] = {}
    for number, doc in enumerate(raw, start=1):
        where = f"document {number}"
        if not isinstance(doc, dict):
            problems.append(f"{where}: must be a mapping with name, status and definition")
            continue
        problems += [f"{where}: {key}: unknown key" for key in sorted(set(map(str, doc)) - _KEYS)]
        name, status = doc.get("name"), doc.get("status")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            problems.append(f"{where}: name: a name of 1 to 200 characters is required")
            continue
        where = f"{where} ({name.strip()})"
        if name.strip().lower() in names:
            problems.append(f"{where}: name: the same name as document {names[name.strip().lower()]}")
        names[name.strip().lower()] = number
        if status is not None and status not in FILE_STATUSES:
            problems.append(f"{where}: status: must be one of {', '.join(FILE_STATUSES)}")
        if "definition" not in doc:
            problems.append(f"{where}: definition: is required")
        documents.append(Document(number, name.strip(), status, doc.get("definition")))
    if not raw:
        problems.append("the file holds no automation")
    if problems:
        raise ApplyRefused(problems)
    return documents


def apply_documents(session: Session, documents: list[Document]) -> list[str]:
    """Create each automation, or save its definition as a new version when it differs from the latest.

    Every document is checked before anything is written, so a refused file changes nothing.
    A file's status applies when it creates an automation, or activates a draft; other status
    changes (pause, resume, archive) go through the API, which tells running contacts.

    Returns:
        One line per document saying what was done.

    Raises:
        ApplyRefused: with every problem of every document, each with its definition path.
    """
    problems: list[str] = []
    checked: list[tuple[Document, Automation | None, Definition]] = []
    for doc in documents:
        existing = crud.get_automation_by_name(session, name=doc.name)
        where = f"document {doc.number} ({doc.name})"
        try:
            definition = check_definition(
                session, doc.definition, automation_id=existing.id if existing else None
            )
        except DefinitionRefused as exc:
            problems += [f"{where}: {problem.message}" for problem in exc.problems]
            continue
        if existing is not None and existing.status == AutomationStatus.ARCHIVED:
            latest = crud.latest_version(session, automation_id=existing.id)
            if latest is None or not crud.same_definition(latest, definition):
                problems.append(f"{where}: automation {existing.id} is archived; it takes no new versions")
                continue
        checked.append((doc, existing, definition))
    if problems:
        raise ApplyRefused(problems)
    return [_apply(session, doc, existing, definition) for doc, existing, definition in checked]


def _apply(session: Session, doc: Document, existing: Automation | None, definition: Definition) -> str:
    if existing is None:
        status = AutomationStatus(doc.status or "draft")
        automation, _ = crud.create_automation(session, name=doc.name, definition=definition, status=status)
        return f"Created automation '{automation.name}' (id {automation.id}), version 1, {status.value}"
    latest = crud.latest_version(session, automation_id=existing.id)
    if latest is not None and crud.same_definition(latest, definition):
        line = f"Unchanged: '{existing.name}' (id {existing.id}) is at version {latest.number}"
    else:
        version = crud.save_version(session, automation=existing, definition=definition)
        line = f"Saved version {version.number} of '{existing.name}' (id {existing.id})"
    if doc.status is not None and doc.status != existing.status.value:
        if doc.status == "active" and existing.status == AutomationStatus.DRAFT:
            crud.change_status(session, automation=existing, action="activate")
            line += "; activated"
        else:
            line += (
                f"; status stays {existing.status.value} (the file says {doc.status}): "
                f"change it with POST /automations/{existing.id}/<activate|pause|resume|archive>"
            )
    return line
