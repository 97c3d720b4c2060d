"""Transactional email through the API on the real dev server and the local Postmark server: to
any address, as written or from a template, once per Idempotency-Key, with no unsubscribe."""

import asyncio
import uuid

import httpx

from nurture.db.models import Contact, ContactStatus
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
