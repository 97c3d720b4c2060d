"""Transactional email through the API on the real dev server and the local Postmark server: to
any address, as written or from a template, once per Idempotency-Key, with no unsubscribe."""

import asyncio
import base64
import os
import uuid

import httpx
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from nurture.db.models import Contact, ContactStatus, StagedAttachment
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import METADATA_KEY
from tests.workflows.message_stack import Stack


async def _post(stack: Stack, body: dict[str, object], *, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    # The TestClient blocks; run it off the loop the in-process worker polls on.
    return await asyncio.to_thread(
        stack.api.post, "/messages/transactional", json=body, headers=headers, params={"wait": "true"}
    )


async def test_an_email_written_out_goes_to_any_address_once_per_idempotency_key(
    stack: Stack, worker: None
) -> None:
    body = {
        "to": f"buyer-{stack.run}@example.com",
        "subject": "Your order  #1042",
        "html": '<p>Thanks for your order. <a href="https://shop.example.com/orders/1042">See it</a></p>',
        "reply_to": "support@example.com",
        "tag": "order-confirmation",
        "metadata": {"order": "1042"},
    }
    key = f"order-1042-{uuid.uuid4()}"
    first = await _post(stack, body, key=key)
    assert first.status_code == 202, first.text
    sent = first.json()
    assert sent["status"] == "sent" and sent["message"]["contact_id"] is None
    [email] = stack.arrived(sent["key"])
    assert email["To"] == [{"Email": body["to"], "Name": ""}]
    assert email["Subject"] == "Your order #1042" and email["MessageStream"] == "outbound"
    assert email["ReplyTo"] == "support@example.com" and email["Tag"] == "order-confirmation"
    assert email["Metadata"] == {"order": "1042", METADATA_KEY: sent["key"]}
    # No unsubscribe link or header; the link is tracked; the text is made from the HTML.
    assert "List-Unsubscribe" not in {h["Name"] for h in email["Headers"]}
    assert "/u/" not in email["HtmlBody"] and "/t/c/" in email["HtmlBody"]
    assert email["TextBody"].startswith("Thanks for your order. See it (")

    again = await _post(stack, body, key=key)
    assert again.status_code == 200 and again.json()["message"]["id"] == sent["message"]["id"]
    assert len(stack.arrived(sent["key"])) == 1

    changed = await _post(stack, {**body, "subject": "Another order"}, key=key)
    assert changed.status_code == 422
    assert changed.json()["errors"] == [
        {"field": "Idempotency-Key", "message": "Idempotency-Key: this key was used with a different request"}
    ]

    read = await asyncio.to_thread(stack.api.get, f"/messages/{sent['message']['id']}")
    assert read.json()["status"] == "sent" and read.json()["to_email"] == body["to"]


async def test_a_template_goes_to_a_contact_who_unsubscribed_from_marketing(
    stack: Stack, worker: None
) -> None:
    with transaction(session_factory(stack.settings.resolved_database_url)) as session:
        contact = session.get(Contact, stack.contact_id)
        assert contact is not None
        contact.status = ContactStatus.UNSUBSCRIBED
    response = await _post(
        stack, {"contact_id": stack.contact_id, "template_id": stack.template_id, "model": {"total": 3}}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "sent"
    [email] = stack.arrived(response.json()["key"])
    assert email["Subject"] == "Your receipt, Ada" and email["MessageStream"] == "outbound"


async def test_attachments_go_out_with_the_email_and_never_through_workflow_history(
    stack: Stack, worker: None, dev_server: WorkflowEnvironment
) -> None:
    report = os.urandom(300_000)
    logo = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    body = {
        "to": f"buyer-{stack.run}@example.com",
        "subject": "Your invoice",
        "html": '<p><img src="cid:logo"> Your invoice is attached.</p>',
        "attachments": [
            {"name": "invoice 1042.pdf", "content": base64.b64encode(report).decode()},
            {"name": "logo.png", "content": base64.b64encode(logo).decode(), "content_id": "logo"},
        ],
    }
    key = f"invoice-{uuid.uuid4()}"
    first = await _post(stack, body, key=key)
    assert first.status_code == 202 and first.json()["status"] == "sent", first.text
    [email] = stack.arrived(first.json()["key"])
    [pdf, png] = email["AttachmentFiles"]
    assert (pdf["Name"], pdf["ContentType"], base64.b64decode(pdf["Content"])) == (
        "invoice 1042.pdf",
        "application/pdf",
        report,
    )
    assert (png["ContentType"], png["ContentID"], base64.b64decode(png["Content"])) == (
        "image/png",
        "cid:logo",
        logo,
    )
    assert first.json()["message"]["attachments"] == [
        {"name": "invoice 1042.pdf", "content_type": "application/pdf", "size": 300_000, "content_id": None},
        {"name": "logo.png", "content_type": "image/png", "size": len(logo), "content_id": "logo"},
    ]

    # The run's history holds the files' names and sizes, not their content.
    history = await dev_server.client.get_workflow_handle(first.json()["workflow_id"]).fetch_history()
    assert sum(event.ByteSize() for event in history.events) < 20_000
    # Once sent, the staged files are dropped; a retry of the request sends nothing more, and
    # leaves nothing staged either.
    assert _staged(stack, first.json()["key"]) == 0
    again = await _post(stack, body, key=key)
    assert again.status_code == 200 and len(stack.arrived(first.json()["key"])) == 1
    assert _staged(stack, first.json()["key"]) == 0
    other_files = await _post(stack, {**body, "attachments": body["attachments"][:1]}, key=key)
    assert other_files.status_code == 422 and other_files.json()["errors"][0]["field"] == "Idempotency-Key"
    assert _staged(stack, first.json()["key"]) == 0


def _staged(stack: Stack, key: str) -> int:
    with session_factory(stack.settings.resolved_database_url)() as session:
        count = select(func.count()).select_from(StagedAttachment).where(StagedAttachment.message_key == key)
        return session.scalar(count) or 0
