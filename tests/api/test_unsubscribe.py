"""Unsubscribe links: GET shows a page and changes nothing; POST (one-click or the page) unsubscribes."""

from collections.abc import Sequence
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from api.main import create_app
from nurture.crud.messages import save_links
from nurture.db.base import utcnow
from nurture.db.models import (
    EngagementType,
    ListSubscription,
    Message,
    MessageEvent,
    SubscriptionStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import MessageStatus, TemplateKind
from nurture.settings import Settings
from nurture.tracking.links import unsubscribe_url
from nurture.tracking.tokens import parse_keys, sign, signing_keys

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _contact(api: TestClient, email: str = "ann@example.com") -> int:
    response = api.post("/contacts", json={"email": email})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _list(api: TestClient, name: str, contact_id: int) -> int:
    response = api.post("/lists", json={"name": name})
    assert response.status_code == 201, response.text
    list_id = int(response.json()["id"])
    subscribed = api.post(f"/lists/{list_id}/subscriptions", json={"contact_id": contact_id})
    assert subscribed.status_code == 201, subscribed.text
    return list_id


def _message(
    settings: Settings, *, contact_id: int, list_id: int | None, key: str = "m-1", urls: Sequence[str] = ()
) -> int:
    # The sending pipeline is not this test's subject: write the rows it would have written.
    with transaction(session_factory(settings.resolved_database_url)) as session:
        message = Message(
            key=key,
            kind=TemplateKind.MARKETING,
            provider="postmark",
            stream="broadcast",
            contact_id=contact_id,
            list_id=list_id,
            to_email="ann@example.com",
            from_email="hello@example.com",
            subject="News",
            status=MessageStatus.SENT,
            sent_at=utcnow() - timedelta(hours=1),
        )
        session.add(message)
        session.flush()
        save_links(session, message=message, urls=list(urls))
        return message.id


def _path(settings: Settings, message_id: int) -> str:
    return unsubscribe_url(settings, message_id=message_id).removeprefix(settings.public_url)


def _standing(api: TestClient, contact_id: int) -> tuple[str, dict[int, str]]:
    contact = api.get(f"/contacts/{contact_id}").json()
    statuses = {s["list_id"]: s["status"] for s in contact["lists"]}
    return contact["status"], statuses


def _activity_types(api: TestClient, contact_id: int) -> list[str]:
    return [a["type"] for a in api.get(f"/contacts/{contact_id}/activity").json()["data"]]


def _events(settings: Settings) -> list[MessageEvent]:
    with session_factory(settings.resolved_database_url)() as session:
        return list(session.scalars(select(MessageEvent).order_by(MessageEvent.id)))


def test_get_shows_the_list_and_changes_nothing(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    list_id = _list(api, "News <b>&</b> Offers", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=list_id)
    before = (_standing(api, contact_id), _activity_types(api, contact_id))
    for _ in range(2):  # a link scanner fetching the page twice
        response = anonymous.get(_path(settings, message_id))
        assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store, max-age=0"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert "News &lt;b&gt;&amp;&lt;/b&gt; Offers" in page and "<b>&</b>" not in page
    assert '<input type="hidden" name="scope" value="list">' in page
    assert '<input type="hidden" name="scope" value="all">' in page
    assert "<script" not in page
    assert (_standing(api, contact_id), _activity_types(api, contact_id)) == before
    assert _events(settings) == []


def test_page_for_a_message_without_a_list_offers_only_all(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    message_id = _message(settings, contact_id=_contact(api), list_id=None)
    page = anonymous.get(_path(settings, message_id)).text
    assert 'value="list"' not in page and 'value="all"' in page


def test_one_click_post_without_cookies_leaves_the_list(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    offers = _list(api, "Offers", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    assert not anonymous.cookies
    response = anonymous.post(_path(settings, message_id), data=ONE_CLICK)
    assert response.status_code == 200, response.text
    assert "unsubscribed from the list <strong>News</strong>" in response.text
    assert _standing(api, contact_id) == ("active", {news: "unsubscribed", offers: "subscribed"})
    [event] = _events(settings)
    assert (event.message_id, event.type.value, event.source) == (message_id, "unsubscribed", "one_click")
    assert (event.data["scope"], event.data["list_id"]) == ("list", news)
    assert _activity_types(api, contact_id)[:2] == ["email.unsubscribed", "list.unsubscribed"]


def test_repeated_posts_are_harmless(api: TestClient, anonymous: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    path = _path(settings, message_id)
    assert anonymous.post(path, data=ONE_CLICK).status_code == 200
    after_first = (_standing(api, contact_id), _activity_types(api, contact_id))
    for body in (ONE_CLICK, {"scope": "list"}):
        assert anonymous.post(path, data=body).status_code == 200
    assert (_standing(api, contact_id), _activity_types(api, contact_id)) == after_first
    assert len(_events(settings)) == 1


def test_multipart_one_click_is_accepted(api: TestClient, anonymous: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    response = anonymous.post(_path(settings, message_id), files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200, response.text
    assert _standing(api, contact_id) == ("active", {news: "unsubscribed"})


def test_scope_all_unsubscribes_the_contact_from_everything(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    offers = _list(api, "Offers", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    response = anonymous.post(_path(settings, message_id), data={"scope": "all"})
    assert response.status_code == 200, response.text
    assert "unsubscribed from all marketing email" in response.text
    assert _standing(api, contact_id) == ("unsubscribed", {news: "unsubscribed", offers: "unsubscribed"})
    types = _activity_types(api, contact_id)
    assert types[:4] == [
        "email.unsubscribed",
        "list.unsubscribed",
        "list.unsubscribed",
        "contact.unsubscribed",
    ]
    [event] = _events(settings)
    assert (event.source, event.data["scope"], event.data["list_id"]) == ("unsubscribe_page", "all", None)
    # Leaving one list afterwards is a separate choice, recorded once, changing nothing more.
    assert anonymous.post(_path(settings, message_id), data={"scope": "list"}).status_code == 200
    assert _activity_types(api, contact_id)[:5] == ["email.unsubscribed", *types[:4]]
    assert len(_events(settings)) == 2


def test_one_click_for_a_message_without_a_list_unsubscribes_from_all(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=None)
    assert anonymous.post(_path(settings, message_id), data=ONE_CLICK).status_code == 200
    assert _standing(api, contact_id) == ("unsubscribed", {news: "unsubscribed"})


def test_forged_tokens_show_404_and_change_nothing(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    good = _path(settings, message_id).removeprefix("/u/")
    altered = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    click = sign("click", message_id=message_id, keys=signing_keys(settings))
    foreign = sign("unsubscribe", message_id=message_id, keys=parse_keys("x:not-our-key", secret_key="x"))
    unknown = sign("unsubscribe", message_id=message_id + 1000, keys=signing_keys(settings))
    before = (_standing(api, contact_id), _activity_types(api, contact_id))
    for token in (altered, click, foreign, unknown, "garbage"):
        for response in (anonymous.get(f"/u/{token}"), anonymous.post(f"/u/{token}", data=ONE_CLICK)):
            assert response.status_code == 404, token
            assert "This unsubscribe link is not valid" in response.text
    assert (_standing(api, contact_id), _activity_types(api, contact_id)) == before
    assert _events(settings) == []


def test_an_unknown_scope_is_refused_naming_the_field(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    message_id = _message(settings, contact_id=contact_id, list_id=_list(api, "News", contact_id))
    response = anonymous.post(_path(settings, message_id), data={"scope": "everything"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "scope"
    assert _events(settings) == []


def test_page_and_one_click_after_the_list_was_deleted(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    news = _list(api, "News", contact_id)
    offers = _list(api, "Offers", contact_id)
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    assert api.delete(f"/lists/{news}").status_code == 204

    page = anonymous.get(_path(settings, message_id)).text
    assert "This email was sent to <strong>ann@example.com</strong>." in page
    assert "You can unsubscribe from all marketing email." in page
    assert " was.</p>" not in page
    assert 'value="list"' not in page and 'value="all"' in page

    response = anonymous.post(_path(settings, message_id), data=ONE_CLICK)
    assert response.status_code == 200, response.text
    assert "unsubscribed from all marketing email" in response.text
    assert _standing(api, contact_id) == ("unsubscribed", {offers: "unsubscribed"})
    [event] = _events(settings)
    assert (event.data["scope"], event.data["list_id"]) == ("all", None)


def test_head_answers_like_get_and_changes_nothing(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    message_id = _message(settings, contact_id=contact_id, list_id=_list(api, "News", contact_id))
    before = (_standing(api, contact_id), _activity_types(api, contact_id))
    response = anonymous.head(_path(settings, message_id))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.content == b""
    assert anonymous.head("/u/garbage").status_code == 404
    assert (_standing(api, contact_id), _activity_types(api, contact_id)) == before
    assert _events(settings) == []


def test_the_ip_address_is_not_stored(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    message_id = _message(settings, contact_id=contact_id, list_id=None)
    with TestClient(create_app(settings), client=("198.51.100.7", 443)) as reader:
        response = reader.post(_path(settings, message_id), data=ONE_CLICK, headers={"User-Agent": "Mail/1"})
    assert response.status_code == 200
    [event] = _events(settings)
    assert event.data["user_agent"] == "Mail/1"
    assert "198.51.100.7" not in str(event.data)


class _Competitor:
    """Another POST of the same link that commits its rows just before this request flushes its own.

    The subscription row and the event are each inserted by one request only; the loser of each
    race gets an IntegrityError, so this request loses twice in a row.
    """

    def __init__(self, settings: Settings, *, message_id: int, contact_id: int, list_id: int) -> None:
        self.url = settings.resolved_database_url
        self.message_id, self.contact_id, self.list_id = message_id, contact_id, list_id
        self.won: list[str] = []

    def before_flush(self, session: Session, context: object, instances: object) -> None:
        for row in session.new:
            if isinstance(row, ListSubscription) and "subscription" not in self.won:
                self.won.append("subscription")
                self._commit(
                    ListSubscription(
                        list_id=self.list_id,
                        contact_id=self.contact_id,
                        status=SubscriptionStatus.UNSUBSCRIBED,
                        consent_source="one_click",
                    )
                )
            elif isinstance(row, MessageEvent) and "event" not in self.won:
                self.won.append("event")
                self._commit(
                    MessageEvent(
                        message_id=self.message_id,
                        type=EngagementType.UNSUBSCRIBED,
                        occurred_at=utcnow(),
                        source="one_click",
                        data={"scope": "list", "list_id": self.list_id},
                        dedup_key=row.dedup_key,
                    )
                )

    def _commit(self, row: object) -> None:
        with transaction(session_factory(self.url)) as other:
            other.add(row)


def test_losing_two_races_in_a_row_still_unsubscribes(
    api: TestClient, anonymous: TestClient, settings: Settings
) -> None:
    if settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("SQLite takes the write lock when a transaction begins: concurrent inserts cannot race")
    contact_id = _contact(api)
    # A list the contact was never on: the unsubscribe inserts its subscription row.
    response = api.post("/lists", json={"name": "News"})
    news = int(response.json()["id"])
    message_id = _message(settings, contact_id=contact_id, list_id=news)
    competitor = _Competitor(settings, message_id=message_id, contact_id=contact_id, list_id=news)
    event.listen(Session, "before_flush", competitor.before_flush)
    try:
        response = anonymous.post(_path(settings, message_id), data=ONE_CLICK)
    finally:
        event.remove(Session, "before_flush", competitor.before_flush)

    assert competitor.won == ["subscription", "event"]
    assert response.status_code == 200, response.text
    assert "unsubscribed from the list <strong>News</strong>" in response.text
    assert _standing(api, contact_id) == ("active", {news: "unsubscribed"})
    assert len(_events(settings)) == 1
