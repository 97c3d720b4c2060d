"""Open pixel and click redirect: recorded once per hit, machine-flagged, forged links do nothing."""

import asyncio
import logging
import time
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.main import create_app
from nurture.crud.messages import save_links
from nurture.db.base import utcnow
from nurture.db.models import Message, MessageEvent, MessageLink
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import ENGAGEMENT_SIGNAL, Engagement, MessageStatus, TemplateKind
from nurture.settings import Settings
from nurture.tracking.tokens import parse_keys, sign, signing_keys

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
# GIF89a, 1x1, a two-colour table, colour 0 transparent: the classic 43-byte tracking pixel.
GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b")


def _contact(api: TestClient, email: str = "ann@example.com") -> int:
    response = api.post("/contacts", json={"email": email})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _message(
    settings: Settings, *, contact_id: int, urls: list[str], workflow_id: str | None = None, key: str = "m-1"
) -> int:
    # The sending pipeline is not this test's subject: write the row it would have written.
    with transaction(session_factory(settings.resolved_database_url)) as session:
        message = Message(
            key=key,
            kind=TemplateKind.MARKETING,
            provider="postmark",
            stream="broadcast",
            contact_id=contact_id,
            to_email="ann@example.com",
            from_email="hello@example.com",
            subject="News",
            status=MessageStatus.SENT,
            sent_at=utcnow() - timedelta(minutes=10),
            workflow_id=workflow_id,
        )
        session.add(message)
        session.flush()
        save_links(session, message=message, urls=urls)
        return message.id


def _events(settings: Settings) -> list[MessageEvent]:
    with session_factory(settings.resolved_database_url)() as session:
        return list(session.scalars(select(MessageEvent).order_by(MessageEvent.id)))


def _activity(api: TestClient, contact_id: int) -> list[dict]:
    return api.get(f"/contacts/{contact_id}/activity").json()["data"]


def _token(settings: Settings, purpose: str, message_id: int, position: int = 0) -> str:
    return sign(purpose, message_id=message_id, position=position, keys=signing_keys(settings))  # type: ignore[arg-type]


def test_open_pixel_records_an_open_and_returns_a_gif(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    message_id = _message(settings, contact_id=contact_id, urls=[])
    response = api.get(
        f"/t/o/{_token(settings, 'open', message_id)}.gif",
        headers={"User-Agent": BROWSER, "X-Forwarded-For": "203.0.113.9, 10.0.0.1"},
    )
    assert response.status_code == 200
    assert response.content == GIF and len(response.content) == 43
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"] == "no-store, max-age=0"
    assert response.headers["x-robots-tag"] == "noindex"
    [event] = _events(settings)
    assert (event.message_id, event.type.value, event.source) == (message_id, "opened", "pixel")
    assert (event.machine, event.machine_reason) == (False, None)
    # As on Postmark's webhooks, the address feeds machine detection and is not stored.
    assert event.data == {"user_agent": BROWSER}
    assert [a["type"] for a in _activity(api, contact_id)][0] == "email.opened"


def test_an_open_by_a_privacy_proxy_is_recorded_as_machine_made(api: TestClient, settings: Settings) -> None:
    message_id = _message(settings, contact_id=_contact(api), urls=[])
    token = _token(settings, "open", message_id)
    proxy = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    assert api.get(f"/t/o/{token}.gif", headers={"User-Agent": proxy}).status_code == 200
    assert api.get(f"/t/o/{token}.gif", headers={"User-Agent": BROWSER}).status_code == 200
    first, second = _events(settings)
    assert (first.machine, first.machine_reason) == (True, "user agent GoogleImageProxy")
    assert second.machine is False  # every open is kept, not only the first


def test_click_redirects_to_the_stored_url_and_records_it(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    urls = ["https://shop.example/a?x=1&y=2", "https://shop.example/b"]
    message_id = _message(settings, contact_id=contact_id, urls=urls)
    token = _token(settings, "click", message_id, position=1)
    # Whatever the request adds, the target is the stored one.
    response = api.get(
        f"/t/c/{token}?url=https://evil.example/",
        headers={"User-Agent": BROWSER, "X-Forwarded-For": "198.51.100.7"},
        follow_redirects=False,
    )
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/b"
    assert response.headers["x-robots-tag"] == "noindex"
    [event] = _events(settings)
    assert (event.type.value, event.url, event.source, event.machine) == (
        "clicked",
        "https://shop.example/b",
        "link",
        False,
    )
    assert event.data == {"user_agent": BROWSER}
    latest = _activity(api, contact_id)[0]
    assert latest["type"] == "email.clicked" and latest["data"]["url"] == "https://shop.example/b"

    first = api.get(f"/t/c/{_token(settings, 'click', message_id)}", follow_redirects=False)
    assert first.headers["location"] == "https://shop.example/a?x=1&y=2"


def test_a_message_sent_before_messages_kept_their_links_still_redirects(
    api: TestClient, settings: Settings
) -> None:
    message_id = _message(settings, contact_id=_contact(api), urls=[])
    with transaction(session_factory(settings.resolved_database_url)) as session:
        message = session.get(Message, message_id)
        assert message is not None
        message.link_urls = None  # as migration 0010 left every earlier message
        session.add(MessageLink(message_id=message_id, position=0, url="https://shop.example/old"))

    response = api.get(f"/t/c/{_token(settings, 'click', message_id)}", follow_redirects=False)
    beyond = api.get(f"/t/c/{_token(settings, 'click', message_id, position=1)}", follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (302, "https://shop.example/old")
    assert beyond.status_code == 404
    assert [e.url for e in _events(settings)] == ["https://shop.example/old"]


def test_a_position_past_the_message_links_is_404(api: TestClient, settings: Settings) -> None:
    message_id = _message(settings, contact_id=_contact(api), urls=["https://shop.example/"])
    for position in (1, 2**31):
        token = _token(settings, "click", message_id, position=position)
        assert api.get(f"/t/c/{token}", follow_redirects=False).status_code == 404
    assert _events(settings) == []


def test_forged_altered_and_foreign_tokens_404_and_record_nothing(
    api: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    message_id = _message(settings, contact_id=contact_id, urls=["https://shop.example/"])
    click = _token(settings, "click", message_id)
    opened = _token(settings, "open", message_id)
    altered = click[:10] + ("A" if click[10] != "A" else "B") + click[11:]
    foreign_key = sign("click", message_id=message_id, keys=parse_keys("x:not-our-key", secret_key="x"))
    before = _activity(api, contact_id)
    for path in [
        f"/t/c/{altered}",
        f"/t/c/{foreign_key}",
        f"/t/c/{opened}",  # an open token is no click token
        f"/t/c/{_token(settings, 'click', message_id, position=5)}",  # no link at that position
        f"/t/c/{_token(settings, 'click', message_id + 1000)}",  # no such message
        f"/t/c/{_token(settings, 'unsubscribe', message_id)}",
        "/t/c/not-a-token",
        f"/t/o/{click}.gif",
        f"/t/o/{opened[:-2]}.gif",
        f"/t/o/{_token(settings, 'open', message_id + 1000)}.gif",
    ]:
        response = api.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert "location" not in response.headers, path
        assert response.json()["detail"] == "This tracking link is not valid"
    assert _events(settings) == []
    assert _activity(api, contact_id) == before


def test_x_forwarded_for_does_not_steer_machine_detection(api: TestClient, settings: Settings) -> None:
    message_id = _message(settings, contact_id=_contact(api), urls=[])
    # Anyone can send this header; an address in Apple's network must not make a person a machine.
    headers = {"User-Agent": BROWSER, "X-Forwarded-For": "17.58.1.1"}
    assert api.get(f"/t/o/{_token(settings, 'open', message_id)}.gif", headers=headers).status_code == 200
    [event] = _events(settings)
    assert (event.machine, event.machine_reason) == (False, None)


def test_the_peer_address_feeds_machine_detection_but_is_not_stored(settings: Settings, api_key: str) -> None:
    # What uvicorn's --proxy-headers puts in request.client behind a trusted proxy.
    with TestClient(
        create_app(settings), client=("17.58.1.1", 443), headers={"Authorization": f"Bearer {api_key}"}
    ) as apple:
        message_id = _message(settings, contact_id=_contact(apple), urls=[])
        opened = apple.get(
            f"/t/o/{_token(settings, 'open', message_id)}.gif", headers={"User-Agent": BROWSER}
        )
    assert opened.status_code == 200
    [event] = _events(settings)
    assert (event.machine, event.machine_reason) == (True, "Apple Mail Privacy Protection")
    assert "17.58.1.1" not in str(event.data)


def test_head_answers_like_get_and_records_nothing(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    message_id = _message(settings, contact_id=contact_id, urls=["https://shop.example/a"])
    before = _activity(api, contact_id)
    pixel = api.head(f"/t/o/{_token(settings, 'open', message_id)}.gif", headers={"User-Agent": BROWSER})
    assert pixel.status_code == 200
    assert pixel.headers["content-type"] == "image/gif"
    assert pixel.headers["cache-control"] == "no-store, max-age=0"
    assert pixel.content == b""
    link = api.head(f"/t/c/{_token(settings, 'click', message_id)}", follow_redirects=False)
    assert link.status_code == 302
    assert link.headers["location"] == "https://shop.example/a"
    assert link.headers["x-robots-tag"] == "noindex"
    for forged in (f"/t/o/{_token(settings, 'click', message_id)}.gif", "/t/c/not-a-token"):
        assert api.head(forged, follow_redirects=False).status_code == 404
    assert _events(settings) == []
    assert _activity(api, contact_id) == before


def test_temporal_down_still_answers_fast_and_records(
    api: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # The default test settings point Temporal at a closed port.
    message_id = _message(
        settings,
        contact_id=_contact(api),
        urls=["https://shop.example/"],
        workflow_id="automation:1:contact:1",
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="api.delivery"):
        opened = api.get(f"/t/o/{_token(settings, 'open', message_id)}.gif")
        clicked = api.get(f"/t/c/{_token(settings, 'click', message_id)}", follow_redirects=False)
    assert time.monotonic() - started < 4
    assert (opened.status_code, clicked.status_code) == (200, 302)
    assert [e.type.value for e in _events(settings)] == ["opened", "clicked"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "api.delivery"]
    assert len(warnings) == 2 and "not delivered to workflow automation:1:contact:1" in warnings[0]


@workflow.defn(name="TestEngagementWaiter")
class EngagementWaiter:
    """Stands in for the workflow that sent a message: waits for its engagement signals."""

    def __init__(self) -> None:
        self.seen: list[Engagement] = []

    @workflow.signal(name=ENGAGEMENT_SIGNAL)
    def engagement(self, engagement: Engagement) -> None:
        self.seen.append(engagement)

    @workflow.run
    async def run(self, count: int) -> list[Engagement]:
        await workflow.wait_condition(lambda: len(self.seen) >= count)
        return self.seen


async def test_open_and_click_reach_the_waiting_workflow(
    dev_server: WorkflowEnvironment, settings: Settings, api_key: str
) -> None:
    settings = settings.model_copy(
        update={"temporal_address": dev_server.client.service_client.config.target_host}
    )
    task_queue = workflow_id = f"test-tracking-{uuid.uuid4()}"
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {api_key}"}) as api:
        message_id = _message(
            settings, contact_id=_contact(api), urls=["https://shop.example/"], workflow_id=workflow_id
        )
        async with Worker(
            dev_server.client,
            task_queue=task_queue,
            workflows=[EngagementWaiter],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await dev_server.client.start_workflow(
                EngagementWaiter.run, 2, id=workflow_id, task_queue=task_queue
            )
            opened = _token(settings, "open", message_id)
            clicked = _token(settings, "click", message_id)
            # The API answers from its own thread, so this loop keeps running the worker meanwhile.
            await asyncio.to_thread(api.get, f"/t/o/{opened}.gif", headers={"User-Agent": BROWSER})
            response = await asyncio.to_thread(
                api.get, f"/t/c/{clicked}", headers={"User-Agent": BROWSER}, follow_redirects=False
            )
            assert response.status_code == 302
            seen = await asyncio.wait_for(handle.result(), timeout=30)
    assert [(e.message_id, e.type.value, e.url, e.machine) for e in seen] == [
        (message_id, "opened", None, None),
        (message_id, "clicked", "https://shop.example/", None),
    ]
