"""1:1 email through a connected mailbox on the real dev server, a real SMTP server and a real
IMAP server: connected after a login check, sent with Cc and Bcc, a copy in Sent, replies synced
onto the Emails list, and the platform refused until the mailbox is disconnected."""

import asyncio
import imaplib
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate

import pytest

from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.folders import quote_name
from nurture.mailbox.imap import open_imap
from tests.mail_servers import ImapServer, ImapUser, SmtpServer, imap_server, mailbox_settings, smtp_server
from tests.workflows.test_one_to_one import Crm

__all__ = ["imap_server", "smtp_server"]  # fixtures, used by name


@pytest.fixture
def crm(stack: object) -> Crm:
    return Crm(stack)  # type: ignore[arg-type]


@pytest.fixture
def mail_user(imap_server: ImapServer) -> ImapUser:
    return imap_server.add_user()


def _folder(config: MailboxConfig, folder: str) -> list[bytes]:
    with open_imap(config) as imap:
        assert imap.select(quote_name(folder), readonly=True)[0] == "OK", folder
        _, [ids] = imap.search(None, "ALL")
        found = []
        for number in ids.split():
            _, data = imap.fetch(number, "(BODY.PEEK[])")
            found.append(data[0][1])  # type: ignore[index]
        return found


def _reply(config: MailboxConfig, *, in_reply_to: str, text: str, **headers: str) -> None:
    reply = EmailMessage()
    reply["From"] = "Ada <ada@buyer.example>"
    reply["To"] = config.from_email
    reply["Subject"] = "Re: Our proposal"
    reply["Date"] = formatdate()
    reply["Message-ID"] = f"<{time.monotonic_ns()}@buyer.example>"
    reply["In-Reply-To"] = in_reply_to
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    reply.set_content(text)
    with open_imap(config) as imap:
        moment = imaplib.Time2Internaldate(datetime.now(UTC))
        imap.append("INBOX", None, moment, reply.as_bytes())


async def _until(check: "object", *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("not within the time")
        await asyncio.sleep(0.2)


async def test_a_connected_mailbox_sends_with_cc_and_bcc_and_syncs_replies(
    crm: Crm, worker: None, imap_server: ImapServer, smtp_server: SmtpServer, mail_user: ImapUser
) -> None:
    body = mailbox_settings(imap=imap_server, smtp=smtp_server, user=mail_user)
    wrong = await asyncio.to_thread(
        crm.stack.api.put, f"/users/{crm.owner_id}/mailbox", json=body | {"secret": "nope"}
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"secret"}
    assert (await asyncio.to_thread(crm.get, f"/users/{crm.owner_id}/mailbox")).status_code == 404

    connected = await asyncio.to_thread(crm.stack.api.put, f"/users/{crm.owner_id}/mailbox", json=body)
    assert connected.status_code == 200, connected.text
    assert "secret" not in connected.json()["settings"]
    assert connected.json()["sync_workflow_id"] == f"mailbox:{crm.owner_id}"

    email = {
        "subject": "Our proposal",
        "html": '<p>Hi Ada, <a href="https://seller.example/proposal">the proposal</a>.</p>',
        "cc": ["boss@buyer.example"],
        "bcc": ["archive@seller.example"],
    }
    sent = await asyncio.to_thread(crm.post, f"/contacts/{crm.contact_id}/emails", email, wait="true")
    assert sent.status_code == 202 and sent.json()["status"] == "sent", sent.text
    [(envelope, message)] = smtp_server.received
    assert sorted(envelope.rcpt_tos) == sorted(
        [f"ada-{crm.stack.run}@buyer.example", "boss@buyer.example", "archive@seller.example"]
    )
    assert message["Cc"] == "boss@buyer.example" and message["Bcc"] is None
    assert b"archive@seller.example" not in bytes(message)
    assert message["From"] == f"Grace Hopper <{mail_user.name}>"
    message_id = message["Message-ID"]
    assert sent.json()["message"]["provider_message_id"] == message_id
    config = MailboxConfig.model_validate(body)
    [copy] = _folder(config, connected.json()["settings"]["sent_folder"])
    assert b"Bcc: archive@seller.example" in copy and message_id.encode() in copy

    _reply(config, in_reply_to="<someone-else@example.com>", text="Not about this")
    _reply(config, in_reply_to=message_id, text="I am away", Auto_Submitted="auto-replied")
    _reply(config, in_reply_to=message_id, text="Looks good, let's sign.")

    def replied() -> list[dict]:
        [listed] = crm.get(f"/contacts/{crm.contact_id}/emails").json()["data"]
        return [e for e in listed["events"] if e["type"] == "replied"]

    await _until(lambda: replied())
    await asyncio.sleep(1.5)  # a few more syncs: nothing is recorded twice
    [reply] = await asyncio.to_thread(replied)
    assert reply["data"]["text"].strip() == "Looks good, let's sign."
    assert reply["data"]["from"] == "ada@buyer.example"

    platform = await asyncio.to_thread(
        crm.post, f"/contacts/{crm.contact_id}/emails", {"subject": "Hi", "text": "x", "via": "platform"}
    )
    assert platform.status_code == 409
    gone = await asyncio.to_thread(crm.stack.api.delete, f"/users/{crm.owner_id}/mailbox")
    assert gone.status_code == 204
    again = await asyncio.to_thread(
        crm.post, f"/contacts/{crm.contact_id}/emails", {"subject": "Hi", "text": "x"}, wait="true"
    )
    assert again.status_code == 202 and again.json()["status"] == "sent"
    assert len(crm.stack.arrived(again.json()["key"])) == 1  # through Postmark now


async def test_a_reply_synced_from_the_mailbox_moves_a_waiting_automation_on(
    crm: Crm, worker: None, imap_server: ImapServer, smtp_server: SmtpServer, mail_user: ImapUser
) -> None:
    body = mailbox_settings(imap=imap_server, smtp=smtp_server, user=mail_user)
    assert (
        await asyncio.to_thread(crm.stack.api.put, f"/users/{crm.owner_id}/mailbox", json=body)
    ).status_code == 200
    api = crm.stack.api
    template = await asyncio.to_thread(
        api.post,
        "/templates",
        json={"name": f"Follow-up {crm.stack.run}", "kind": "transactional", "subject": "Quick question",
              "html_body": "<p>Hi {{ contact.first_name }}, any news?</p>"},
    )  # fmt: skip
    assert template.status_code == 201, template.text
    definition = {
        "triggers": [],
        "steps": [
            {"id": "ask", "type": "send_email", "template_id": template.json()["id"], "from_owner": "deal"},
            {
                "id": "wait-reply",
                "type": "wait_for",
                "condition": {"type": "email", "did": "replied", "step": "ask"},
                "timeout": "7d",
                "on_timeout": "done",
            },
            {"id": "mark", "type": "tag", "add": ["replied"]},
            {"id": "done", "type": "end"},
        ],
    }
    automation = await asyncio.to_thread(
        api.post,
        "/automations",
        json={"name": f"Ask {crm.stack.run}", "status": "active", "definition": definition},
    )
    assert automation.status_code == 201, automation.text
    # Started by the same reply, once the sync records it: "replied to a 1:1 email".
    on_reply = {
        "triggers": [{"type": "one_to_one_replied", "user_id": crm.owner_id}],
        "steps": [{"id": "thank", "type": "tag", "add": ["answered-grace"]}],
    }
    started_by_reply = await asyncio.to_thread(
        api.post,
        "/automations",
        json={"name": f"On reply {crm.stack.run}", "status": "active", "definition": on_reply},
    )
    assert started_by_reply.status_code == 201, started_by_reply.text
    enrolled = await asyncio.to_thread(
        api.post, f"/automations/{automation.json()['id']}/enrollments", json={"contact_id": crm.contact_id}
    )
    assert enrolled.status_code in (200, 201, 202), enrolled.text

    await _until(lambda: smtp_server.received)
    [(_, message)] = smtp_server.received
    assert message["Subject"] == "Quick question" and message["From"] == f"Grace Hopper <{mail_user.name}>"
    [listed] = (await asyncio.to_thread(crm.get, f"/deals/{crm.deal_id}/emails")).json()["data"]
    assert listed["subject"] == "Quick question"

    _reply(MailboxConfig.model_validate(body), in_reply_to=message["Message-ID"], text="Yes: signed today.")

    def tags() -> list[str]:
        return [
            tag["name"] if isinstance(tag, dict) else tag
            for tag in crm.get(f"/contacts/{crm.contact_id}").json()["tags"]
        ]

    await _until(lambda: {"replied", "answered-grace"} <= set(tags()))
