"""What the /automations route modules share: the automation in the path, paging, sessions, answers."""

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from api.deps import SessionDep
from api.errors import Problem, not_found
from api.pagination import PageParams, page_params
from api.params import IdPath
from api.schemas.automations import AutomationPublic
from nurture.crud import automations as crud
from nurture.crud.automations import AutomationConflict
from nurture.db.models import Automation

PageDep = Annotated[PageParams, Depends(page_params)]


def load_automation(session: SessionDep, automation_id: IdPath) -> Automation:
    """The automation named in the path, or a 404."""
    automation = crud.get_automation(session, automation_id=automation_id)
    if automation is None:
        raise not_found("automation", automation_id)
    return automation


AutomationDep = Annotated[Automation, Depends(load_automation)]


def request_sessions(request: Request) -> sessionmaker[Session]:
    """The app's session factory, for work that must not hold the request's session across an await."""
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def automation_conflict(exc: AutomationConflict) -> Problem:
    """A 409 saying why the automation cannot do this now."""
    return Problem(409, "Conflict", str(exc))


def automation_public(session: Session, automation: Automation) -> AutomationPublic:
    """The automation with its latest version, as the API answers it."""
    version = crud.latest_version(session, automation_id=automation.id)
    assert version is not None, "every automation is created with its first version"
    return AutomationPublic.of(automation, version)
