"""Campaigns through the API: drafts validated field by field, the states each action needs (with
Temporal down), and on the real dev server with workers and the local Postmark server: a send with
its numbers, pause and resume while sending, and a scheduled send cancelled before it is due."""

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.campaigns.sending import CampaignProgress
from nurture.crud.api_keys import create_api_key
from nurture.db.models import Campaign, CampaignRecipient, CampaignStatus
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from nurture.temporal import search_attributes
from tests.isolated import isolated
from workers.registration import WorkerDeps, running_workers

OFFER = "https://example.com/offer"


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def _refused(response: httpx.Response) -> list[tuple[str, str]]:
    return [(e["field"], e["message"]) for e in _problem(response, 422)["errors"]]


def _template(api: TestClient, kind: str = "marketing") -> int:
    body = {
        "name": f"news-{uuid.uuid4().hex[:6]}",
        "kind": kind,
        "subject": "News for {{ contact.email }}",
        "html_body": f'<p>Hello</p><p><a href="{OFFER}">See the offer</a></p>',
    }
    return int(_ok(api.post("/templates", json=body), 201)["id"])


def _list(api: TestClient, name: str) -> int:
    return int(_ok(api.post("/lists", json={"name": name}), 201)["id"])


def _draft(api: TestClient, **fields: Any) -> dict:
    return _ok(api.post("/campaigns", json={"name": "November news", **fields}), 201)


def _set_status(settings: Settings, campaign_id: int, status: CampaignStatus) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))


# Drafts and refusals: none of these reach Temporal (which the `api` fixture points nowhere).


def test_a_draft_names_every_field_at_fault_and_nothing_is_written(api: TestClient) -> None:
    template, transactional = _template(api), _template(api, "transactional")
    news = _list(api, "News")
    good: dict[str, Any] = {"name": "November news", "template_id": template, "audience": {"lists": [news]}}

    def refused(**changes: Any) -> list[tuple[str, str]]:
        return _refused(api.post("/campaigns", json={**good, **changes}))

    assert {field for field, _ in _refused(api.post("/campaigns", json={}))} == {
        "name",
        "template_id",
        "audience",
    }
    assert refused(template_id=999) == [("template_id", "template 999 does not exist")]
    assert refused(template_id=transactional) == [
        ("template_id", f"template {transactional} is transactional; a campaign sends marketing templates")
    ]
    assert refused(audience={"lists": []})[0][0] == "audience.lists"
    assert refused(audience={"lists": [news, 998], "exclude_lists": [999, news]}) == [
        ("audience.lists[1]", "list 998 does not exist"),
        ("audience.exclude_lists[0]", "list 999 does not exist"),
        ("audience.exclude_lists[1]", f"list {news} is in lists too: its subscribers would all be left out"),
    ]
    assert refused(audience={"lists": [news], "segment": 3})[0][0] == "audience.segment"
    assert refused(from_email="not an address")[0][0] == "from_email"
    assert refused(scheduled_at="2020-01-01T09:00:00Z") == [("scheduled_at", "must be in the future")]
    assert refused(scheduled_at="2999-01-01T09:00:00")[0][0] == "scheduled_at"  # no time zone
    assert refused(send_rate=0)[0][0] == "send_rate"
    assert refused(timezone="Mars/Olympus_Mons") == [
        ("timezone", "'Mars/Olympus_Mons' is not an IANA time zone such as 'Europe/Paris'")
    ]
    conditions = [{"field": "plan", "op": "eq", "value": "pro"}, {"field": "seats", "op": "like"}]
    assert refused(audience={"lists": [news], "conditions": conditions})[0][0] == "audience.conditions[1].op"
    assert refused(audience={"lists": [news], "conditions": [{"field": "plan", "op": "gt"}]}) == [
        (
            "audience.conditions[0].value",
            "'gt' needs a value; use 'missing' or 'exists' for an empty field",
        )
    ]
    assert refused(audience={"lists": [news], "conditions": [{"field": "first_name", "value": 3}]}) == [
        ("audience.conditions[0].value", "first_name holds text: compare it with a string")
    ]
    ab = {
        "variants": [{"subject": "A"}, {"subject": "B"}],
        "sample_percent": 20,
        "wait": "4h",
        "metric": "opens",
    }
    assert refused(ab_test=ab, in_contact_timezone=True) == [
        (
            "in_contact_timezone",
            "cannot be combined with an A/B test: its sample and winner would go out zone by zone",
        )
    ]
    assert refused(ab_test={**ab, "variants": [{"subject": "A"}]})[0][0] == "ab_test.variants"
    assert refused(ab_test={**ab, "variants": [{"subject": "A"}] * 6})[0][0] == "ab_test.variants"
    assert refused(ab_test={**ab, "sample_percent": 60})[0][0] == "ab_test.sample_percent"
    assert refused(ab_test={**ab, "wait": "soon"})[0][0] == "ab_test.wait"
    assert refused(ab_test={**ab, "metric": "replies"})[0][0] == "ab_test.metric"
    assert refused(ab_test={**ab, "variants": [{}, {"subject": "B"}]}) == [
        ("ab_test.variants[0]", "give at least one of subject, template_id or from_email")
    ]
    assert refused(
        ab_test={**ab, "variants": [{"subject": "{{ broken"}, {"template_id": transactional}]}
    ) == [
        (
            "ab_test.variants[0].subject",
            "line 1: unexpected end of template, expected 'end of print statement'.",
        ),
        (
            "ab_test.variants[1].template_id",
            f"template {transactional} is transactional; a campaign sends marketing templates",
        ),
    ]
    assert _ok(api.get("/campaigns"))["data"] == []


def test_a_draft_is_created_read_listed_changed_and_deleted(api: TestClient) -> None:
    template, other = _template(api), _template(api)
    news, offers = _list(api, "News"), _list(api, "Offers")
    ab = {
        "variants": [{"subject": "Plain"}, {"template_id": other, "from_email": "Ada <ada@example.com>"}],
        "sample_percent": 20,
        "wait": "4h",
        "metric": "clicks",
    }
    plan_is_pro = {"field": "plan", "op": "eq", "value": "pro"}
    first = _draft(
        api,
        template_id=template,
        audience={"lists": [news], "tags": ["VIP"], "conditions": [plan_is_pro]},
        ab_test=ab,
    )
    assert (first["status"], first["workflow_id"], first["ui_url"], first["recipients"]) == (
        "draft",
        None,
        None,
        None,
    )
    assert first["audience"] == {
        "lists": [news],
        "exclude_lists": [],
        "tags": ["VIP"],
        "exclude_tags": [],
        "conditions": [{"type": "field", **plan_is_pro}],
    }
    # Only what a variant changes is kept.
    assert first["ab_test"]["variants"] == [
        {"subject": "Plain"},
        {"template_id": other, "from_email": "Ada <ada@example.com>"},
    ]
    second = _draft(
        api,
        template_id=template,
        audience={"lists": [offers]},
        send_rate=600,
        in_contact_timezone=True,
        timezone="Europe/Paris",
    )
    assert (second["in_contact_timezone"], second["timezone"]) == (True, "Europe/Paris")

    read = _ok(api.get(f"/campaigns/{first['id']}"))
    assert read["stats"]["recipients"] == 0 and read["stats"]["winner"] is None
    assert [v["variant"] for v in read["stats"]["variants"]] == [0, 1]
    page = _ok(api.get("/campaigns", params={"limit": 1}))
    assert [c["id"] for c in page["data"]] == [second["id"]]  # newest first
    rest = _ok(api.get("/campaigns", params={"limit": 1, "cursor": page["next_cursor"]}))
    assert [c["id"] for c in rest["data"]] == [first["id"]] and rest["next_cursor"] is None
    assert [c["id"] for c in _ok(api.get("/campaigns", params={"status": "sent"}))["data"]] == []

    due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    changed = _ok(
        api.patch(
            f"/campaigns/{first['id']}",
            json={"name": "December news", "ab_test": None, "scheduled_at": due.isoformat()},
        )
    )
    assert (changed["name"], changed["ab_test"], changed["send_rate"]) == ("December news", None, None)
    assert datetime.fromisoformat(changed["scheduled_at"]) == due
    assert _refused(api.patch(f"/campaigns/{first['id']}", json={"name": None})) == [
        ("name", "may not be null")
    ]
    assert _refused(api.patch(f"/campaigns/{first['id']}", json={"audience": {"lists": [999]}})) == [
        ("audience.lists[0]", "list 999 does not exist")
    ]
    # An A/B test in each contact's time zone, however it is put together, is refused.
    assert (
        _refused(api.patch(f"/campaigns/{second['id']}", json={"ab_test": ab}))[0][0] == "in_contact_timezone"
    )
    assert _ok(api.get(f"/campaigns/{second['id']}"))["ab_test"] is None

    assert api.delete(f"/campaigns/{first['id']}").status_code == 204
    _problem(api.get(f"/campaigns/{first['id']}"), 404)
    _problem(api.post(f"/campaigns/{first['id']}/send"), 404)


def test_each_action_needs_its_state_and_only_a_draft_changes(api: TestClient, settings: Settings) -> None:
    template = _template(api)
    campaign = _draft(api, template_id=template, audience={"lists": [_list(api, "News")]})["id"]
    url = f"/campaigns/{campaign}"

    def refusal(method: str, action: str = "", **kwargs: Any) -> str:
        return str(_problem(api.request(method, url + action, **kwargs), 409)["detail"])

    assert refusal("POST", "/pause") == f"campaign {campaign} is draft; only a sending campaign can be paused"
    assert (
        refusal("POST", "/resume") == f"campaign {campaign} is draft; only a paused campaign can be resumed"
    )
    assert refusal("POST", "/cancel") == (
        f"campaign {campaign} is draft; only a scheduled, sending or paused campaign can be cancelled"
    )
    _set_status(settings, campaign, CampaignStatus.SENDING)
    assert refusal("POST", "/send") == f"campaign {campaign} is sending; only a draft campaign can be sent"
    assert refusal("POST", "/schedule", json={}) == (
        f"campaign {campaign} is sending; only a draft campaign can be scheduled"
    )
    assert refusal("PATCH", json={"name": "Later"}) == (
        f"campaign {campaign} is sending; only a draft campaign can be changed"
    )
    assert refusal("DELETE") == f"campaign {campaign} is sending; only a draft campaign can be deleted"
    assert (
        refusal("POST", "/resume") == f"campaign {campaign} is sending; only a paused campaign can be resumed"
    )
    _set_status(settings, campaign, CampaignStatus.SENT)
    assert refusal("POST", "/pause") == f"campaign {campaign} is sent; only a sending campaign can be paused"
    assert refusal("POST", "/cancel").startswith(f"campaign {campaign} is sent; only a scheduled")
    assert _ok(api.get(url))["status"] == "sent"


def test_a_send_temporal_refuses_leaves_the_draft_as_it_was(api: TestClient, settings: Settings) -> None:
    template = _template(api)
    news = _list(api, "News")
    due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    campaign = _draft(api, template_id=template, audience={"lists": [news]}, scheduled_at=due.isoformat())[
        "id"
    ]
    url = f"/campaigns/{campaign}"

    assert _problem(api.post(f"{url}/send"), 503)["detail"].startswith("Cannot reach Temporal")
    assert _problem(api.post(f"{url}/schedule", json={}), 503)["detail"].startswith("Cannot reach Temporal")
    read = _ok(api.get(url))
    assert (read["status"], read["workflow_id"], datetime.fromisoformat(read["scheduled_at"])) == (
        "draft",
        None,
        due,
    )
    # A pause Temporal never heard of is not kept either.
    _set_status(settings, campaign, CampaignStatus.SENDING)
    _problem(api.post(f"{url}/pause"), 503)
    assert _ok(api.get(url))["status"] == "sending"


def test_a_send_checks_the_draft_again_and_a_schedule_needs_a_time_ahead(api: TestClient) -> None:
    template = _template(api)
    campaign = _draft(api, template_id=template, audience={"lists": [_list(api, "News")]})["id"]
    url = f"/campaigns/{campaign}"

    assert _refused(api.post(f"{url}/schedule", json={})) == [("scheduled_at", "give the time to send at")]
    assert _refused(api.post(f"{url}/schedule", json={"scheduled_at": "2020-01-01T00:00:00Z"})) == [
        ("scheduled_at", "must be in the future")
    ]
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert _refused(api.post(f"{url}/schedule", json={"scheduled_at": due, "timezone": "Nowhere"}))[0][0] == (
        "timezone"
    )
    ab = {
        "variants": [{"subject": "A"}, {"subject": "B"}],
        "sample_percent": 20,
        "wait": "4h",
        "metric": "opens",
    }
    _ok(api.patch(url, json={"ab_test": ab}))
    assert _refused(api.post(f"{url}/schedule", json={"scheduled_at": due, "in_contact_timezone": True})) == [
        (
            "in_contact_timezone",
            "cannot be combined with an A/B test: its sample and winner would go out zone by zone",
        )
    ]
    # The template became transactional after the draft was written.
    _ok(api.patch(f"/templates/{template}", json={"kind": "transactional"}))
    assert _refused(api.post(f"{url}/send")) == [
        ("template_id", f"template {template} is transactional; a campaign sends marketing templates")
    ]
    assert _ok(api.get(url))["status"] == "draft"


# On the real dev server, with workers and the local Postmark server.


@dataclass
class Live:
    api: TestClient
    settings: Settings
    client: Client
    postmark: RunningServer

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # The TestClient blocks; run it off the loop the in-process workers poll on.
        return await asyncio.to_thread(self.api.request, method, url, **kwargs)

    def received(self) -> Counter[str]:
        return Counter(r for m in self.postmark.messages() for r in m["Recipients"])

    async def until_status(self, campaign_id: int, status: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            campaign = _ok(await self.call("GET", f"/campaigns/{campaign_id}"))
            if campaign["status"] == status or time.monotonic() > deadline:
                assert campaign["status"] == status, campaign
                return campaign
            await asyncio.sleep(0.2)

    async def progress(self, campaign_id: int) -> CampaignProgress:
        handle = self.client.get_workflow_handle(f"campaign:{campaign_id}")
        return await handle.query("progress", result_type=CampaignProgress)


def _fresh_campaign_ids(settings: Settings, template_id: int) -> None:
    """Start this test's campaign ids high and at random: the dev server outlives the test's empty
    database, and a campaign's workflow id (`campaign:{id}`) is never accepted twice."""
    start = random.randint(10**6, 10**9)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        session.add(Campaign(id=start, name="id marker", template_id=template_id, audience={"lists": []}))
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('campaigns', 'id'), :n)"), {"n": start}
            )


@pytest.fixture
def live_api(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> Iterator[tuple[TestClient, Settings]]:
    target = dev_server.client.service_client.config.target_host
    settings = isolated(settings, postmark_server, temporal_address=target)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        _, key = create_api_key(session, name="tests")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as api:
        yield api, settings


@pytest.fixture
async def live(
    live_api: tuple[TestClient, Settings], dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Live]:
    api, settings = live_api
    async with running_workers(dev_server.client, WorkerDeps(settings=settings)):
        yield Live(api, settings, dev_server.client, postmark_server)


def _contacts(api: TestClient, emails: list[str], lists: list[dict[str, Any]]) -> None:
    for email in emails:
        _ok(api.post("/contacts", json={"email": email, "lists": lists}), 201)


async def test_a_campaign_reaches_each_eligible_contact_once_and_shows_its_numbers(live: Live) -> None:
    api = live.api
    template = _template(api)
    _fresh_campaign_ids(live.settings, template)
    news, offers = _list(api, "News"), _list(api, "Offers")
    # 30 contacts over two lists: one in both, one who left News, one whose address is suppressed.
    _contacts(api, [f"n{i}@example.com" for i in range(14)], [{"list_id": news}])
    _contacts(api, [f"o{i}@example.com" for i in range(13)], [{"list_id": offers}])
    _contacts(api, ["both@example.com"], [{"list_id": news}, {"list_id": offers}])
    _contacts(api, ["left@example.com"], [{"list_id": news, "status": "unsubscribed"}])
    _contacts(api, ["bounced@example.com"], [{"list_id": offers}])
    _ok(api.post("/suppressions", json={"email": "bounced@example.com", "reason": "hard_bounce"}), 201)
    eligible = [f"n{i}@example.com" for i in range(14)] + [f"o{i}@example.com" for i in range(13)]
    eligible.append("both@example.com")
    campaign = _draft(api, template_id=template, audience={"lists": [news, offers]})["id"]

    sending = _ok(await live.call("POST", f"/campaigns/{campaign}/send"))
    assert (sending["status"], sending["workflow_id"]) == ("sending", f"campaign:{campaign}")
    assert sending["ui_url"].endswith(f"/workflows/campaign%3A{campaign}")
    again = _problem(await live.call("POST", f"/campaigns/{campaign}/send"), 409)
    assert again["detail"].startswith(f"campaign {campaign} is s")  # sending, or sent already
    description = await live.client.get_workflow_handle(f"campaign:{campaign}").describe()
    assert description.typed_search_attributes.get(search_attributes.KIND) == "campaign"
    sent = await live.until_status(campaign, "sent")

    assert live.received() == Counter({email: 1 for email in eligible})
    stats = sent["stats"]
    assert (stats["recipients"], stats["sent"], stats["done"], sent["recipients"]) == (28, 28, 28, 28)
    assert (stats["pending"], stats["suppressed"], stats["failed"], stats["cancelled"]) == (0, 0, 0, 0)
    assert sent["finished_at"] is not None
    again = _problem(await live.call("POST", f"/campaigns/{campaign}/send"), 409)
    assert again["detail"] == f"campaign {campaign} is sent; only a draft campaign can be sent"

    # A person opens one email and clicks its offer; an image proxy opens another.
    emails = {m["Recipients"][0]: m["HtmlBody"] for m in live.postmark.messages()}
    pixel = re.compile(r'src="[^"]*(/t/o/[^"]+\.gif)"')
    link = re.compile(r'href="[^"]*(/t/c/[^"]+)"')
    await asyncio.sleep(2.1)  # a person cannot open an email within 2 s of its sending
    person = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0"}
    proxy = {"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}
    for email, headers in [("n0@example.com", person), ("o0@example.com", proxy)]:
        opened = pixel.search(emails[email])
        assert opened is not None, emails[email]
        assert (await live.call("GET", opened.group(1), headers=headers)).status_code == 200
    clicked = link.search(emails["n0@example.com"])
    assert clicked is not None
    redirect = await live.call("GET", clicked.group(1), headers=person, follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (302, OFFER)

    stats = _ok(await live.call("GET", f"/campaigns/{campaign}"))["stats"]
    assert (stats["opens"], stats["machine_opens"], stats["clicks"], stats["links"]) == (1, 1, 1, {OFFER: 1})


async def test_a_sending_campaign_pauses_resumes_and_cancels(live: Live) -> None:
    api = live.api
    template = _template(api)
    _fresh_campaign_ids(live.settings, template)
    news = _list(api, "News")
    _contacts(api, [f"c{i}@example.com" for i in range(12)], [{"list_id": news}])
    # Five a minute: one batch of five now, the next a minute later.
    campaign = _draft(api, template_id=template, audience={"lists": [news]}, send_rate=5)["id"]
    url = f"/campaigns/{campaign}"
    _ok(await live.call("POST", f"{url}/send"))
    deadline = time.monotonic() + 30
    while sum(live.received().values()) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    assert _ok(await live.call("POST", f"{url}/pause"))["status"] == "paused"
    assert (await live.progress(campaign)).status == "paused"
    assert _problem(await live.call("POST", f"{url}/pause"), 409)["detail"] == (
        f"campaign {campaign} is paused; only a sending campaign can be paused"
    )
    assert _ok(await live.call("GET", url))["status"] == "paused"
    assert _ok(await live.call("POST", f"{url}/resume"))["status"] == "sending"
    assert (await live.progress(campaign)).status == "sending"
    assert _ok(await live.call("POST", f"{url}/cancel"))["status"] == "cancelled"
    assert _problem(await live.call("POST", f"{url}/resume"), 409)["detail"].startswith(
        f"campaign {campaign} is cancelled;"
    )
    assert sum(live.received().values()) == 5


async def test_a_scheduled_campaign_cancelled_before_it_is_due_sends_nothing(live: Live) -> None:
    api = live.api
    template = _template(api)
    _fresh_campaign_ids(live.settings, template)
    news = _list(api, "News")
    _contacts(api, [f"c{i}@example.com" for i in range(5)], [{"list_id": news}])
    campaign = _draft(api, template_id=template, audience={"lists": [news]})["id"]
    url = f"/campaigns/{campaign}"
    due = datetime.now(UTC) + timedelta(hours=1)

    scheduled = _ok(await live.call("POST", f"{url}/schedule", json={"scheduled_at": due.isoformat()}))
    assert (scheduled["status"], scheduled["workflow_id"]) == ("scheduled", f"campaign:{campaign}")
    assert datetime.fromisoformat(scheduled["scheduled_at"]) == due
    assert (await live.progress(campaign)).status == "scheduled"
    assert _problem(await live.call("POST", f"{url}/send"), 409)["detail"] == (
        f"campaign {campaign} is scheduled; only a draft campaign can be sent"
    )
    assert _problem(await live.call("POST", f"{url}/pause"), 409)["detail"].startswith(
        f"campaign {campaign} is scheduled;"
    )

    assert _ok(await live.call("POST", f"{url}/cancel"))["status"] == "cancelled"
    handle = live.client.get_workflow_handle(f"campaign:{campaign}", result_type=CampaignProgress)
    progress = await asyncio.wait_for(handle.result(), timeout=30)

    assert progress.status == "cancelled"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    cancelled = _ok(await live.call("GET", url))
    assert (cancelled["status"], cancelled["reason"]) == ("cancelled", "cancelled before it was due")
    assert cancelled["stats"]["recipients"] == 0 and live.received() == Counter()
    # The audience was never fixed: no recipients.
    with session_factory(live.settings.resolved_database_url)() as session:
        fixed = session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign)
        ).all()
    assert fixed == []


async def test_in_each_contacts_time_zone_a_zone_whose_time_has_passed_gets_it_at_once(live: Live) -> None:
    api = live.api
    template = _template(api)
    _fresh_campaign_ids(live.settings, template)
    news = _list(api, "News")
    membership = [{"list_id": news}]
    _ok(
        api.post(
            "/contacts", json={"email": "tokyo@example.com", "timezone": "Asia/Tokyo", "lists": membership}
        ),
        201,
    )
    _ok(api.post("/contacts", json={"email": "utc@example.com", "lists": membership}), 201)
    campaign = _draft(api, template_id=template, audience={"lists": [news]})["id"]
    url = f"/campaigns/{campaign}"
    # Two hours ahead on UTC clocks, the campaign's zone (and the zone of a contact without one):
    # that time was seven hours ago in Tokyo.
    due = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)

    body = {"scheduled_at": due.isoformat(), "in_contact_timezone": True}
    scheduled = _ok(await live.call("POST", f"{url}/schedule", json=body))
    assert (scheduled["status"], scheduled["in_contact_timezone"], scheduled["timezone"]) == (
        "scheduled",
        True,
        None,
    )
    sending = await live.until_status(campaign, "sending")
    deadline = time.monotonic() + 30
    while not live.received() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

    assert sending["recipients"] == 2 and live.received() == Counter({"tokyo@example.com": 1})
    cancelled = _ok(await live.call("POST", f"{url}/cancel"))
    assert cancelled["status"] == "cancelled"
    handle = live.client.get_workflow_handle(f"campaign:{campaign}", result_type=CampaignProgress)
    assert (await asyncio.wait_for(handle.result(), timeout=30)).counts.sent == 1
    stats = _ok(await live.call("GET", url))["stats"]
    assert (stats["sent"], stats["cancelled"]) == (1, 1)
    assert live.received() == Counter({"tokyo@example.com": 1})
