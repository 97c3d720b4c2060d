"""/lists: create, read, rename and delete lists, and manage who is subscribed to each."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from api.automation_signals import dispatch_after_response
from api.deps import SessionDep
from api.errors import conflict, invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.lists import (
    ListCreate,
    ListPublic,
    ListUpdate,
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionUpdate,
)
from nurture.automations.triggers import SubscriptionChanged
from nurture.crud import lists as crud
from nurture.crud.contacts import get_contact
from nurture.db.models import ListSubscription, MailingList, SubscriptionStatus

router = APIRouter(prefix="/lists", tags=["lists"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, list_id: IdPath) -> MailingList:
    mailing_list = crud.get_list(session, list_id=list_id)
    if mailing_list is None:
        raise not_found("list", list_id)
    return mailing_list


ListDep = Annotated[MailingList, Depends(_load)]


def _load_subscription(session: SessionDep, mailing_list: ListDep, contact_id: IdPath) -> ListSubscription:
    row = crud.get_subscription(session, list_id=mailing_list.id, contact_id=contact_id)
    if row is None:
        raise not_found(f"subscription of contact {contact_id} to list", mailing_list.id)
    return row


SubscriptionDep = Annotated[ListSubscription, Depends(_load_subscription)]


def _check_name(session: SessionDep, name: str, current: MailingList | None = None) -> None:
    existing = crud.get_list_by_name(session, name=name)
    if existing is not None and existing is not current:
        raise conflict("name", f"a list named '{name}' already exists")


def _lists_public(session: SessionDep, rows: list[MailingList]) -> list[ListPublic]:
    counts = crud.subscription_counts(session, list_ids=[row.id for row in rows])
    return [ListPublic.of(row, counts=counts[row.id]) for row in rows]


def _subscriptions_public(session: SessionDep, rows: list[ListSubscription]) -> list[SubscriptionPublic]:
    emails = crud.subscriber_emails(session, contact_ids=[row.contact_id for row in rows])
    return [SubscriptionPublic.of(row, email=emails[row.contact_id]) for row in rows]


def _dispatch(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    row: ListSubscription,
    previous: SubscriptionStatus | None,
) -> None:
    """After the response, tell the contact's runs and triggers of a change of standing, if any."""
    if row.status == previous:
        return
    change = SubscriptionChanged(row.list_id, subscribed=row.status == SubscriptionStatus.SUBSCRIBED)
    dispatch_after_response(background, request, session, contact_id=row.contact_id, changes=[change])


@router.get("", response_model=Page[ListPublic])
def list_lists(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(description="Search list names")] = None,
) -> Page[ListPublic]:
    """Lists, oldest first, each with how many contacts it has in each status."""
    rows, next_cursor = paginate(session, crud.filter_lists(search=q), MailingList.id, page)
    return Page(data=_lists_public(session, rows), next_cursor=next_cursor)


@router.post("", status_code=201, response_model=ListPublic)
def create_list(session: SessionDep, body: ListCreate) -> ListPublic:
    """Create a list; names are unique."""
    _check_name(session, body.name)
    mailing_list = crud.create_list(session, name=body.name, description=body.description)
    session.commit()
    session.refresh(mailing_list)
    return _lists_public(session, [mailing_list])[0]


@router.get("/{list_id}", response_model=ListPublic)
def read_list(session: SessionDep, mailing_list: ListDep) -> ListPublic:
    """One list with its member counts."""
    return _lists_public(session, [mailing_list])[0]


@router.patch("/{list_id}", response_model=ListPublic)
def update_list(session: SessionDep, mailing_list: ListDep, body: ListUpdate) -> ListPublic:
    """Rename a list or change its description."""
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        _check_name(session, changes["name"], mailing_list)
    crud.update_list(session, mailing_list=mailing_list, changes=changes)
    session.commit()
    session.refresh(mailing_list)
    return _lists_public(session, [mailing_list])[0]


@router.delete("/{list_id}", status_code=204)
def delete_list(session: SessionDep, mailing_list: ListDep) -> Response:
    """Delete a list and its subscriptions; the contacts stay, each with a `list.removed` event."""
    crud.delete_list(session, mailing_list=mailing_list)
    session.commit()
    return Response(status_code=204)


@router.get("/{list_id}/subscriptions", response_model=Page[SubscriptionPublic])
def list_subscriptions(
    session: SessionDep,
    mailing_list: ListDep,
    page: PageDep,
    status: SubscriptionStatus | None = None,
) -> Page[SubscriptionPublic]:
    """The list's subscriptions, oldest first, optionally in one status."""
    query = crud.filter_subscriptions(list_id=mailing_list.id, status=status)
    rows, next_cursor = paginate(session, query, ListSubscription.id, page)
    return Page(data=_subscriptions_public(session, rows), next_cursor=next_cursor)


@router.post(
    "/{list_id}/subscriptions",
    status_code=201,
    response_model=SubscriptionPublic,
    responses={200: {"model": SubscriptionPublic, "description": "The contact was on the list"}},
)
def create_subscription(
    session: SessionDep,
    mailing_list: ListDep,
    body: SubscriptionCreate,
    response: Response,
    request: Request,
    background: BackgroundTasks,
) -> SubscriptionPublic:
    """Put a contact on the list (201), or change its standing if it is on it already (200).

    Consent evidence (source, IP, time) is recorded when the contact becomes subscribed, so
    re-subscribing after unsubscribing records new consent, while repeating a subscribe keeps
    the original evidence.
    """
    contact = get_contact(session, contact_id=body.contact_id)
    if contact is None:
        raise invalid("contact_id", f"contact {body.contact_id} does not exist")
    existed = crud.get_subscription(session, list_id=mailing_list.id, contact_id=contact.id)
    previous = existed.status if existed is not None else None
    row = crud.set_subscription(session, list_id=mailing_list.id, **body.model_dump())
    session.commit()
    session.refresh(row)
    _dispatch(request, background, session, row, previous)
    if existed is not None:
        response.status_code = 200
    return SubscriptionPublic.of(row, email=contact.email)


@router.get("/{list_id}/subscriptions/{contact_id}", response_model=SubscriptionPublic)
def read_subscription(session: SessionDep, subscription: SubscriptionDep) -> SubscriptionPublic:
    """One contact's subscription to the list."""
    return _subscriptions_public(session, [subscription])[0]


@router.patch("/{list_id}/subscriptions/{contact_id}", response_model=SubscriptionPublic)
def update_subscription(
    session: SessionDep,
    subscription: SubscriptionDep,
    body: SubscriptionUpdate,
    request: Request,
    background: BackgroundTasks,
) -> SubscriptionPublic:
    """Change a contact's standing; the consent fields count only when it becomes subscribed."""
    previous = subscription.status
    row = crud.set_subscription(
        session,
        list_id=subscription.list_id,
        contact_id=subscription.contact_id,
        **body.model_dump(),
    )
    session.commit()
    session.refresh(row)
    _dispatch(request, background, session, row, previous)
    return _subscriptions_public(session, [row])[0]


@router.delete("/{list_id}/subscriptions/{contact_id}", status_code=204)
def remove_subscription(
    session: SessionDep, subscription: SubscriptionDep, request: Request, background: BackgroundTasks
) -> Response:
    """Take the contact off the list entirely, recording `list.removed`."""
    left = SubscriptionChanged(subscription.list_id, subscribed=False)
    contact_id = subscription.contact_id
    crud.remove_subscription(session, subscription=subscription)
    session.commit()
    dispatch_after_response(background, request, session, contact_id=contact_id, changes=[left])
    return Response(status_code=204)
