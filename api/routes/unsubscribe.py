"""Public unsubscribe: a page on GET that changes nothing, RFC 8058 one-click on POST."""

from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.delivery import deliver
from api.deps import SessionDep, SettingsDep
from nurture.crud.engagement import record_engagement
from nurture.crud.lists import get_list
from nurture.crud.messages import get_message
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.models import Contact, EngagementType, MailingList, Message, MessageEvent
from nurture.email.engagement import engagement_of
from nurture.observability.metrics import count_email_event
from nurture.settings import Settings
from nurture.tracking.tokens import signing_keys, verify

router = APIRouter(prefix="/u", tags=["unsubscribe"])

# The token is in the URL: keep it out of Referer headers, caches, search engines and frames
# (a framed page could trick a click on the button).
HEADERS = {
    "Cache-Control": "no-store, max-age=0",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
}
# A POST can conflict with concurrent ones on its list subscription row and on its event (both
# inserted at most once); one more attempt than that always finds every winner's rows.
ATTEMPTS = 3
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}button{font:inherit;padding:.5rem 1rem;margin:.25rem 0;cursor:pointer}"
)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _not_found() -> HTMLResponse:
    return _page(
        "Link not valid",
        "<p>This unsubscribe link is not valid. Use the link in the most recent email you received.</p>",
        status=404,
    )


def _load(session: Session, settings: Settings, token: str) -> Message | None:
    claims = verify("unsubscribe", token, keys=signing_keys(settings))
    return get_message(session, message_id=claims.message_id) if claims else None


def _list_of(session: Session, message: Message) -> MailingList | None:
    # None when the email was sent for no list, or its list was deleted since (list_id is then null).
    return get_list(session, list_id=message.list_id) if message.list_id is not None else None


@router.get("/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """A page offering to leave the list the email was sent for, or all marketing email; changes nothing.

    Link scanners GET every link in an email, so only the POST of one of its buttons unsubscribes.
    An email sent for no list, or for a list deleted since, offers only all marketing email.
    """
    message = _load(session, settings, token)
    if message is None:
        return _not_found()
    mailing_list = _list_of(session, message)
    to = f"<strong>{escape(message.to_email)}</strong>"
    # A plain form posting back to this very URL: no script, no cookie, no CSRF token to lose.
    everything = (
        '<form method="post"><input type="hidden" name="scope" value="all">'
        "<button type=submit>Unsubscribe from all marketing email</button></form>"
    )
    if mailing_list is None:
        intro = f"<p>This email was sent to {to}. You can unsubscribe from all marketing email.</p>"
        return _page("Unsubscribe", intro + everything)
    name = escape(mailing_list.name)
    intro = f"<p>This email was sent to {to} for the list <strong>{name}</strong>.</p>"
    one_list = (
        '<form method="post"><input type="hidden" name="scope" value="list">'
        f"<button type=submit>Unsubscribe from {name}</button></form>"
    )
    return _page("Unsubscribe", intro + one_list + everything)


# Link checkers and some mail clients send HEAD first; the page changes nothing either way.
@router.head("/{token}", response_class=HTMLResponse)
def unsubscribe_page_head(token: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    """The page's headers, or a 404 for a link that is not valid; changes nothing."""
    return unsubscribe_page(token, session, settings)


def _apply(
    session: Session, *, message: Message, list_id: int | None, source: str, details: dict[str, str | None]
) -> MessageEvent | None:
    effective = "list" if list_id is not None else "all"
    contact = session.get(Contact, message.contact_id) if message.contact_id is not None else None
    # Always applied, even on a repeat: the contact may have subscribed again since.
    changed = unsubscribe(session, contact=contact, list_id=list_id, source=source) if contact else []
    return record_engagement(
        session,
        message=message,
        type=EngagementType.UNSUBSCRIBED,
        source=source,
        data={"scope": effective, "list_id": list_id, "changed": changed, **details},
        # One event per message and scope: a repeated POST answers the same page and records nothing.
        dedup_key=f"unsubscribe:{message.id}:{effective}",
    )


@router.post("/{token}", response_class=HTMLResponse)
def unsubscribe_post(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    scope: Annotated[Literal["list", "all"] | None, Form(description="From the page's buttons")] = None,
    one_click: Annotated[
        str | None, Form(alias="List-Unsubscribe", description="RFC 8058: `One-Click`")
    ] = None,
) -> HTMLResponse:
    """Unsubscribe at once: RFC 8058 one-click (`List-Unsubscribe=One-Click`) or a button of the page.

    One-click and `scope=list` leave the list the email was sent for. When it was sent for no list,
    or its list has been deleted since, they leave all marketing email instead: the reader asked
    to stop this email and there is no narrower list left to leave. `scope=all` leaves all
    marketing email. Repeating it is harmless.
    """
    message = _load(session, settings, token)
    if message is None:
        return _not_found()
    mailing_list = _list_of(session, message)
    list_id = mailing_list.id if mailing_list is not None and scope != "all" else None
    source = "one_click" if scope is None and one_click is not None else "unsubscribe_page"
    # Like opens and clicks, an unsubscribe keeps no IP address: an opt-out needs no evidence.
    details = {"user_agent": request.headers.get("user-agent")}
    for attempt in range(ATTEMPTS):
        try:
            event = _apply(session, message=message, list_id=list_id, source=source, details=details)
            session.commit()
            break
        except IntegrityError:
            # Mail providers sometimes POST twice at once: the loser retries and finds the winner's
            # rows. Each retry sees at least one more of them, and there are at most ATTEMPTS - 1.
            session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
    count_email_event(event)
    if event is not None:
        background.add_task(
            deliver,
            request.app.state.temporal,
            workflow_id=message.workflow_id,
            engagement=engagement_of(message, event),
        )
    what = (
        f"the list <strong>{escape(mailing_list.name)}</strong>"
        if list_id is not None and mailing_list is not None
        else "all marketing email"
    )
    return _page(
        "Unsubscribed",
        f"<p><strong>{escape(message.to_email)}</strong> is unsubscribed from {what}. "
        "You may still receive email about your account or orders.</p>",
    )
