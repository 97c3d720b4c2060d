"""/contacts: create, read, update, delete, filter, tag, and read the activity stream."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from sqlalchemy import select

from api.automation_signals import dispatch_after_response
from api.deps import SessionDep
from api.errors import Problem, conflict, invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath, IdQuery
from api.schemas.contacts import ActivityPublic, ContactPublic, ContactUpdate, TagsIn
from nurture.automations.triggers import (
    Change,
    SubscriptionChanged,
    Tagged,
    Untagged,
    contact_fields,
    field_changes,
)
from nurture.crud import contacts as crud
from nurture.crud.companies import get_account
from nurture.crud.lists import get_list, set_subscription
from nurture.crud.tags import add_tag, remove_tag
from nurture.crud.users import get_user
from nurture.db.models import ActivityEvent, Contact, ContactStatus, SubscriptionStatus
from nurture.schemas.contacts import ContactCreate

router = APIRouter(prefix="/contacts", tags=["contacts"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, contact_id: IdPath) -> Contact:
    contact = crud.get_contact(session, contact_id=contact_id)
    if contact is None:
        raise not_found("contact", contact_id)
    return contact


ContactDep = Annotated[Contact, Depends(_load)]


def _check_references(session: SessionDep, *, owner_id: int | None, account_id: int | None) -> None:
    if owner_id is not None and get_user(session, user_id=owner_id) is None:
        raise invalid("owner_id", f"user {owner_id} does not exist")
    if account_id is not None and get_account(session, account_id=account_id) is None:
        raise invalid("account_id", f"account {account_id} does not exist")


@router.get("", response_model=Page[ContactPublic])
def list_contacts(
    session: SessionDep,
    page: PageDep,
    email: str | None = None,
    status: ContactStatus | None = None,
    tag: str | None = None,
    list_id: IdQuery = None,
    list_status: Annotated[
        SubscriptionStatus | None, Query(description="With list_id: only members in this status")
    ] = None,
    owner_id: IdQuery = None,
    account_id: IdQuery = None,
    q: Annotated[str | None, Query(description="Search email and names")] = None,
) -> Page[ContactPublic]:
    """Contacts matching every filter given, oldest first; list_id matches any status on the list."""
    if list_status is not None and list_id is None:
        raise invalid("list_status", "filters members of a list: give list_id too")
    query = crud.filter_contacts(
        email=email,
        status=status,
        tag=tag,
        list_id=list_id,
        list_status=list_status,
        owner_id=owner_id,
        account_id=account_id,
        search=q,
    )
    rows, next_cursor = paginate(session, query, Contact.id, page)
    return Page(data=[ContactPublic.of(c) for c in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ContactPublic)
def create_contact(
    session: SessionDep, body: ContactCreate, request: Request, background: BackgroundTasks
) -> ContactPublic:
    """Create a contact, with its tags and list subscriptions, all or nothing; triggers run after."""
    if crud.get_contact_by_email(session, email=body.email) is not None:
        raise conflict("email", f"a contact with email {body.email} already exists")
    _check_references(session, owner_id=body.owner_id, account_id=body.account_id)
    for index, membership in enumerate(body.lists):
        if get_list(session, list_id=membership.list_id) is None:
            raise invalid(f"lists[{index}].list_id", f"list {membership.list_id} does not exist")
    contact = crud.create_contact(session, fields=body.model_dump(exclude={"tags", "lists"}))
    changes: list[Change] = [
        Tagged(name) for name in body.tags if add_tag(session, contact=contact, name=name)
    ]
    for membership in body.lists:
        set_subscription(session, contact_id=contact.id, **membership.model_dump())
        if membership.status == SubscriptionStatus.SUBSCRIBED:
            changes.append(SubscriptionChanged(membership.list_id, subscribed=True))
    session.commit()
    session.refresh(contact)
    # After the response: the caller never waits on Temporal (see api.automation_signals).
    dispatch_after_response(background, request, session, contact_id=contact.id, changes=changes)
    return ContactPublic.of(contact)


@router.get("/{contact_id}", response_model=ContactPublic)
def read_contact(contact: ContactDep) -> ContactPublic:
    """One contact with its tags and list memberships."""
    return ContactPublic.of(contact)


@router.patch("/{contact_id}", response_model=ContactPublic)
def update_contact(
    session: SessionDep,
    contact: ContactDep,
    body: ContactUpdate,
    request: Request,
    background: BackgroundTasks,
) -> ContactPublic:
    """Change the fields given; custom_fields merge, and a null value removes that key."""
    changes = body.model_dump(exclude_unset=True)
    new_email = changes.get("email")
    if new_email and new_email != contact.email and crud.get_contact_by_email(session, email=new_email):
        raise conflict("email", f"a contact with email {new_email} already exists")
    _check_references(session, owner_id=changes.get("owner_id"), account_id=changes.get("account_id"))
    before = contact_fields(contact)
    crud.update_contact(session, contact=contact, changes=changes)
    session.commit()
    session.refresh(contact)
    changed = field_changes(before, contact_fields(contact))
    dispatch_after_response(background, request, session, contact_id=contact.id, changes=changed)
    return ContactPublic.of(contact)


@router.delete("/{contact_id}", status_code=204)
def delete_contact(session: SessionDep, contact: ContactDep) -> Response:
    """Delete a contact with its tags, subscriptions and activity."""
    session.delete(contact)
    session.commit()
    return Response(status_code=204)


@router.post("/{contact_id}/tags", response_model=ContactPublic)
def tag_contact(
    session: SessionDep, contact: ContactDep, body: TagsIn, request: Request, background: BackgroundTasks
) -> ContactPublic:
    """Add tags (created if new); tags the contact already has are left as they are."""
    added = [Tagged(name) for name in body.tags if add_tag(session, contact=contact, name=name)]
    session.commit()
    session.refresh(contact)
    dispatch_after_response(background, request, session, contact_id=contact.id, changes=added)
    return ContactPublic.of(contact)


# `:path` so that a tag with a slash in its name can be removed too.
@router.delete("/{contact_id}/tags/{tag:path}", response_model=ContactPublic)
def untag_contact(
    session: SessionDep, contact: ContactDep, tag: str, request: Request, background: BackgroundTasks
) -> ContactPublic:
    """Remove a tag from the contact."""
    if not remove_tag(session, contact=contact, name=tag):
        raise Problem(404, "Not found", f"contact {contact.id} has no tag '{tag}'")
    session.commit()
    session.refresh(contact)
    dispatch_after_response(background, request, session, contact_id=contact.id, changes=[Untagged(tag)])
    return ContactPublic.of(contact)


@router.get("/{contact_id}/activity", response_model=Page[ActivityPublic])
def contact_activity(
    session: SessionDep, contact: ContactDep, page: PageDep, type: str | None = None
) -> Page[ActivityPublic]:
    """The contact's activity stream, newest first."""
    query = select(ActivityEvent).where(ActivityEvent.contact_id == contact.id)
    if type:
        query = query.where(ActivityEvent.type == type)
    rows, next_cursor = paginate(session, query, ActivityEvent.id, page, newest_first=True)
    return Page(data=[ActivityPublic.model_validate(e) for e in rows], next_cursor=next_cursor)
