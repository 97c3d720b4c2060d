"""1:1 email through the platform on the real dev server and the local Postmark server: from a
contact's, deal's or account's record, replies back through Postmark's inbound webhook onto the
Emails lists, and the rules of the two sending modes."""

import asyncio
import base64
import uuid
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from nurture.db.base import utcnow
from nurture.db.models import Account, Contact, Deal, DealContact, Mailbox, User
from nurture.db.session import session_factory, transaction
from nurture.postmark_server.inbound import inbound_payload
from tests.workflows.message_stack import Stack


class Crm:
    """An owner, an account, a deal and a contact on both."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        with transaction(session_factory(stack.settings.resolved_database_url)) as session:
            owner = User(email=f"grace-{stack.run}@seller.example", name="Grace Hopper")
            session.add(owner)
            session.flush()
            account = Account(name="Analytical Engines", owner_id=owner.id)
            session.add(account)
            session.flush()
            deal = Deal(title="Engine no. 2", stage="proposal", owner_id=owner.id, account_id=account.id)
            contact = Contact(email=f"ada-{stack.run}@buyer.example", first_name="Ada", owner_id=owner.id)
            contact.account_id = account.id
            session.add_all([deal, contact])
            session.flush()
            session.add(DealContact(deal_id=deal.id, contact_id=contact.id))
            self.owner_id, self.account_id, self.deal_id, self.contact_id = (
                owner.id,
                account.id,
                deal.id,
                contact.id,
            )

    def post(self, path: str, body: dict[str, Any], **query: str) -> httpx.Response:
        return self.stack.api.post(path, json=body, params=query)

    def get(self, path: str) -> httpx.Response:
        return self.stack.api.get(path)

    def reply(self, description: dict[str, Any]) -> httpx.Response:
        """Post Postmark's inbound webhook for this email to the API, as Postmark would."""
        return self.deliver(
            inbound_payload(description, message_id=str(uuid.uuid4()), date=format_datetime(utcnow()))
        )

    def deliver(self, payload: dict[str, Any]) -> httpx.Response:
        """Post an inbound webhook body (again, as a retry)."""
        settings = self.stack.settings
        token = base64.b64encode(f"{settings.webhook_username}:{settings.webhook_password}".encode()).decode()
        return self.stack.api.post(
            "/webhooks/postmark/inbound", json=payload, headers={"Authorization": f"Basic {token}"}
        )


@pytest.fixture
def crm(stack: Stack) -> Crm:
    return Crm(stack)


async def test_a_1to1_email_goes_out_and_its_reply_lands_on_every_emails_list(crm: Crm, worker: None) -> None:
    body = {
        "subject": "Our proposal",
        "html": '<p>Hi Ada, here it is: <a href="https://seller.example/proposal">the proposal</a>.</p>',
        "deal_id": crm.deal_id,
    }
    response = await asyncio.to_thread(crm.post, f"/contacts/{crm.contact_id}/emails", body, wait="true")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "sent"
    [email] = crm.stack.arrived(response.json()["key"])
    assert email["From"] == f"Grace Hopper <grace-{crm.stack.run}@seller.example>"
    assert email["MessageStream"] == "outbound" and email["Cc"] == [] and email["Bcc"] == []
    reply_to = email["ReplyTo"]
    assert reply_to.startswith("reply+") and reply_to.endswith("@inbound.nurture.localhost")
    assert "/t/c/" in email["HtmlBody"] and "List-Unsubscribe" not in {h["Name"] for h in email["Headers"]}

    reply = {
        "from": f"Ada <ada-{crm.stack.run}@buyer.example>",
        "to": reply_to,
        "subject": "Re: Our proposal",
        "text": "Looks good, let's sign.\n\nOn Monday Grace wrote:\n> Hi Ada",
        "headers": {"In-Reply-To": "<x@postmark>"},
    }
    payload = inbound_payload(reply, message_id=str(uuid.uuid4()), date=format_datetime(utcnow()))
    answered = await asyncio.to_thread(crm.deliver, payload)
    assert answered.status_code == 200 and answered.json()["recorded"] is True, answered.text
    retried = await asyncio.to_thread(crm.deliver, payload)
    assert retried.json() | {"message_id": None} == {
        "recorded": False,
        "message_id": None,
        "detail": "recorded before",
    }

    for path in (
        f"/contacts/{crm.contact_id}/emails",
        f"/deals/{crm.deal_id}/emails",
        f"/accounts/{crm.account_id}/emails",
    ):
        [listed] = (await asyncio.to_thread(crm.get, path)).json()["data"]
        assert listed["subject"] == "Our proposal" and listed["user_id"] == crm.owner_id
        [replied] = [e for e in listed["events"] if e["type"] == "replied"]
        assert replied["data"]["text"] == "Looks good, let's sign."
        assert replied["data"]["from"] == f"ada-{crm.stack.run}@buyer.example"


async def test_replies_that_are_automatic_or_not_ours_are_acknowledged_and_not_recorded(
    crm: Crm, worker: None
) -> None:
    response = await asyncio.to_thread(
        crm.post, f"/contacts/{crm.contact_id}/emails", {"subject": "Hello", "text": "Hi"}, wait="true"
    )
    [email] = crm.stack.arrived(response.json()["key"])
    away = {
        "from": "ada@buyer.example",
        "to": email["ReplyTo"],
        "subject": "Out of office",
        "text": "Back Monday",
    }
    answered = await asyncio.to_thread(crm.reply, away | {"headers": {"Auto-Submitted": "auto-replied"}})
    assert answered.json() == {
        "recorded": False,
        "message_id": response.json()["message"]["id"],
        "detail": "automatic: Auto-Submitted: auto-replied",
    }
    stranger = await asyncio.to_thread(crm.reply, away | {"to": "reply+forged@inbound.nurture.localhost"})
    assert (
        stranger.json()["recorded"] is False and stranger.json()["detail"] == "not a reply to a Nurture email"
    )
    [listed] = (await asyncio.to_thread(crm.get, f"/contacts/{crm.contact_id}/emails")).json()["data"]
    assert [e["type"] for e in listed["events"] if e["type"] == "replied"] == []


def _replied_automation(crm: Crm, *, user_id: int, tag: str) -> int:
    """An active automation started by replies to `user_id`'s 1:1 emails: it tags and ends, and
    a contact may enter again once a run has ended."""
    definition = {
        "triggers": [{"type": "one_to_one_replied", "user_id": user_id}],
        "entry": {"mode": "after_previous"},
        "steps": [{"id": "mark", "type": "tag", "add": [tag]}],
    }
    body = {"name": f"{tag} {crm.stack.run}", "status": "active", "definition": definition}
    created = crm.post("/automations", body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _runs(crm: Crm, automation_id: int) -> list[str]:
    return [run["status"] for run in crm.get(f"/automations/{automation_id}/runs").json()["data"]]


async def _until(check: Any, *, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.2)


async def test_each_reply_to_a_1to1_email_starts_the_automations_it_triggers(crm: Crm, worker: None) -> None:
    with transaction(session_factory(crm.stack.settings.resolved_database_url)) as session:
        colleague = User(email=f"alan-{crm.stack.run}@seller.example", name="Alan Turing")
        session.add(colleague)
        session.flush()
        colleague_id = colleague.id
    ours = await asyncio.to_thread(_replied_automation, crm, user_id=crm.owner_id, tag="wrote-back")
    theirs = await asyncio.to_thread(_replied_automation, crm, user_id=colleague_id, tag="wrote-to-alan")
    response = await asyncio.to_thread(
        crm.post, f"/contacts/{crm.contact_id}/emails", {"subject": "Our proposal", "text": "Hi"}, wait="true"
    )
    [email] = crm.stack.arrived(response.json()["key"])
    reply = {"from": "ada@buyer.example", "to": email["ReplyTo"], "subject": "Re: Our proposal"}

    away = await asyncio.to_thread(
        crm.reply, reply | {"text": "Back Monday", "headers": {"Auto-Submitted": "auto-replied"}}
    )
    assert away.json()["recorded"] is False
    first = inbound_payload(
        reply | {"text": "Yes"}, message_id=str(uuid.uuid4()), date=format_datetime(utcnow())
    )
    assert (await asyncio.to_thread(crm.deliver, first)).json()["recorded"] is True
    await _until(lambda: _runs(crm, ours) == ["completed"])
    # Postmark retrying the same reply records nothing and starts nothing; a second reply does.
    assert (await asyncio.to_thread(crm.deliver, first)).json()["recorded"] is False
    assert (await asyncio.to_thread(crm.reply, reply | {"text": "And one more thing"})).json()["recorded"]
    await _until(lambda: _runs(crm, ours) == ["completed", "completed"])

    assert "wrote-back" in crm.get(f"/contacts/{crm.contact_id}").json()["tags"]
    assert await asyncio.to_thread(_runs, crm, theirs) == []


async def test_the_two_sending_modes_never_mix(crm: Crm) -> None:
    path = f"/contacts/{crm.contact_id}/emails"
    cc = await asyncio.to_thread(crm.post, path, {"subject": "Hi", "text": "x", "cc": ["b@example.com"]})
    assert cc.status_code == 422
    assert cc.json()["errors"][0]["field"] == "cc"
    assert "Cc needs a connected mailbox" in cc.json()["errors"][0]["message"]
    mailbox = await asyncio.to_thread(crm.post, path, {"subject": "Hi", "text": "x", "via": "mailbox"})
    assert mailbox.status_code == 409 and "has no connected mailbox" in mailbox.json()["detail"]

    sessions = session_factory(crm.stack.settings.resolved_database_url)
    with transaction(sessions) as session:
        # As a connected mailbox is stored (the API checks it first; none is reached here).
        session.add(
            Mailbox(
                user_id=crm.owner_id,
                settings={"from_email": "grace@mail.example"},
                secret_sealed="x",
                last_uid=0,
            )
        )
    refused = await asyncio.to_thread(crm.post, path, {"subject": "Hi", "text": "x", "via": "platform"})
    assert refused.status_code == 409
    assert f"disconnect it (DELETE /users/{crm.owner_id}/mailbox)" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/deals/{deal}/emails", {}, "contact_id", "give the contact it goes to"),
        ("/accounts/{account}/emails", {"contact_id": 999999}, "contact_id", "contact 999999 does not exist"),
        ("/contacts/{contact}/emails", {"deal_id": 999999}, "deal_id", "is not on deal 999999"),
        ("/contacts/{contact}/emails", {"user_id": 999999}, "user_id", "user 999999 does not exist"),
        ("/contacts/{contact}/emails", {"html": None, "text": None}, "html", "give html and/or text"),
    ],
)
async def test_bad_1to1_requests_name_the_field(
    crm: Crm, path: str, body: dict[str, Any], field: str, message: str
) -> None:
    url = path.format(deal=crm.deal_id, account=crm.account_id, contact=crm.contact_id)
    response = await asyncio.to_thread(crm.post, url, {"subject": "Hi", "text": "x"} | body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and message in error["message"]
