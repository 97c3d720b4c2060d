"""/users: the account users who own contacts, accounts and deals."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.exc import IntegrityError

from api.deps import SessionDep
from api.errors import Problem, conflict, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.users import UserCreate, UserPublic, UserUpdate
from nurture.crud import users as crud
from nurture.db.models import User

router = APIRouter(prefix="/users", tags=["users"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, user_id: IdPath) -> User:
    user = crud.get_user(session, user_id=user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


UserDep = Annotated[User, Depends(_load)]


def _taken(email: str) -> Problem:
    return conflict("email", f"a user with email {email} already exists")


@router.get("", response_model=Page[UserPublic])
def list_users(
    session: SessionDep,
    page: PageDep,
    email: str | None = None,
    q: Annotated[str | None, Query(description="Search email and name")] = None,
) -> Page[UserPublic]:
    """Users matching every filter given, oldest first."""
    rows, next_cursor = paginate(session, crud.filter_users(email=email, search=q), User.id, page)
    return Page(data=[UserPublic.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=UserPublic)
def create_user(session: SessionDep, body: UserCreate) -> UserPublic:
    """Create a user; emails are unique ignoring case."""
    if crud.get_user_by_email(session, email=body.email) is not None:
        raise _taken(body.email)
    try:
        user = crud.create_user(session, email=body.email, name=body.name)
    except IntegrityError as exc:
        # The unique index catches a concurrent create that slipped past the check above.
        raise _taken(body.email) from exc
    session.commit()
    return UserPublic.model_validate(user)


@router.get("/{user_id}", response_model=UserPublic)
def read_user(user: UserDep) -> UserPublic:
    """One user."""
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(session: SessionDep, user: UserDep, body: UserUpdate) -> UserPublic:
    """Change the fields given."""
    changes = body.model_dump(exclude_unset=True)
    email = changes.get("email")
    if email not in (None, user.email) and crud.get_user_by_email(session, email=email) is not None:
        raise _taken(email)
    try:
        crud.update_user(session, user=user, changes=changes)
    except IntegrityError as exc:
        raise _taken(str(email)) from exc
    session.commit()
    session.refresh(user)
    return UserPublic.model_validate(user)


@router.delete("/{user_id}", status_code=204)
def delete_user(session: SessionDep, user: UserDep) -> Response:
    """Delete a user; the contacts, accounts and deals they owned are kept, with no owner."""
    # The owner_id foreign keys are ON DELETE SET NULL, so the database unassigns them.
    session.delete(user)
    session.commit()
    return Response(status_code=204)
