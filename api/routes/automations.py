"""/automations: definitions and their immutable numbered versions (status, runs and more: automation_*)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError

from api.deps import SessionDep
from api.errors import conflict, not_found
from api.pagination import Page, paginate
from api.params import IdPath
from api.routes.automation_deps import AutomationDep, PageDep, automation_conflict, automation_public
from api.schemas.automations import (
    AutomationCreate,
    AutomationPublic,
    AutomationUpdate,
    VersionCreate,
    VersionPublic,
)
from nurture.automations.check import check_definition
from nurture.automations.definition import Definition
from nurture.automations.problems import DefinitionRefused
from nurture.crud import automations as crud
from nurture.crud.automations import AutomationConflict
from nurture.db.models import Automation, AutomationStatus, AutomationVersion

router = APIRouter(prefix="/automations", tags=["automations"])


def _check_name(session: SessionDep, name: str, current: Automation | None = None) -> None:
    existing = crud.get_automation_by_name(session, name=name)
    if existing is not None and existing is not current:
        raise conflict("name", f"an automation named '{existing.name}' already exists")


def _definition(session: SessionDep, raw: dict[str, Any], automation_id: int | None = None) -> Definition:
    try:
        return check_definition(session, raw, automation_id=automation_id)
    except DefinitionRefused as exc:
        # The same 422 as a request pydantic refuses: one error per problem, its path as the field.
        raise RequestValidationError(
            [
                {"loc": ("body", "definition", *p.loc), "msg": p.message, "type": "value_error"}
                for p in exc.problems
            ]
        ) from exc


@router.get("", response_model=Page[AutomationPublic])
def list_automations(
    session: SessionDep,
    page: PageDep,
    status: Annotated[AutomationStatus | None, Query(description="Only automations in this status")] = None,
    q: Annotated[str | None, Query(description="Search automation names")] = None,
) -> Page[AutomationPublic]:
    """Automations, oldest first, each with its latest version."""
    rows, next_cursor = paginate(
        session, crud.filter_automations(status=status, search=q), Automation.id, page
    )
    return Page(data=[automation_public(session, row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=AutomationPublic)
def create_automation(session: SessionDep, body: AutomationCreate) -> AutomationPublic:
    """Create an automation with its definition as version 1, as a draft unless `status` is active."""
    _check_name(session, body.name)
    definition = _definition(session, body.definition)
    automation, version = crud.create_automation(
        session, name=body.name, definition=definition, status=AutomationStatus(body.status)
    )
    session.commit()
    return AutomationPublic.of(automation, version)


@router.get("/{automation_id}", response_model=AutomationPublic)
def read_automation(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """One automation with its latest version."""
    return automation_public(session, automation)


@router.patch("/{automation_id}", response_model=AutomationPublic)
def update_automation(
    session: SessionDep, automation: AutomationDep, body: AutomationUpdate
) -> AutomationPublic:
    """Rename an automation; its steps change by saving a new version."""
    if body.name is not None:
        _check_name(session, body.name, automation)
        crud.rename_automation(session, automation=automation, name=body.name)
        session.commit()
    return automation_public(session, automation)


@router.delete("/{automation_id}", status_code=204)
def delete_automation(session: SessionDep, automation: AutomationDep) -> Response:
    """Delete a draft or archived automation no contact is running through, with its versions and runs."""
    try:
        crud.delete_automation(session, automation=automation)
    except AutomationConflict as exc:
        raise automation_conflict(exc) from exc
    session.commit()
    return Response(status_code=204)


@router.post("/{automation_id}/versions", status_code=201, response_model=VersionPublic)
def create_version(session: SessionDep, automation: AutomationDep, body: VersionCreate) -> VersionPublic:
    """Save a definition as the next version: new runs start on it, running contacts keep theirs."""
    if automation.status == AutomationStatus.ARCHIVED:
        raise automation_conflict(
            AutomationConflict(f"automation {automation.id} is archived; it takes no new versions")
        )
    definition = _definition(session, body.definition, automation.id)
    try:
        version = crud.save_version(session, automation=automation, definition=definition)
    except AutomationConflict as exc:
        raise automation_conflict(exc) from exc
    session.commit()
    return VersionPublic.model_validate(version)


@router.get("/{automation_id}/versions", response_model=Page[VersionPublic])
def list_versions(session: SessionDep, automation: AutomationDep, page: PageDep) -> Page[VersionPublic]:
    """Every version, first to latest."""
    query = crud.filter_versions(automation_id=automation.id)
    rows, next_cursor = paginate(session, query, AutomationVersion.id, page)
    return Page(data=[VersionPublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/{automation_id}/versions/{number}", response_model=VersionPublic)
def read_version(session: SessionDep, automation: AutomationDep, number: IdPath) -> VersionPublic:
    """One version by its number."""
    version = crud.get_version(session, automation_id=automation.id, number=number)
    if version is None:
        raise not_found(f"automation {automation.id} version", number)
    return VersionPublic.model_validate(version)
