"""Webhook payloads in Postmark's documented shapes, and the emitter that posts them."""

import functools
import itertools
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import httpx

from nurture.postmark_server.clock import webhook_time
from nurture.postmark_server.store import StoredMessage

EventType = Literal["Delivery", "Open", "Click", "Bounce", "SpamComplaint", "SubscriptionChange"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# The MessageEvents `Type` that details shows for each webhook RecordType.
MESSAGE_EVENT = {
    "Delivery": "Delivered",
    "Open": "Opened",
    "Click": "LinkClicked",
    "Bounce": "Bounced",
    # Postmark files spam complaints as bounces of type SpamComplaint.
    "SpamComplaint": "Bounced",
    "SubscriptionChange": "SubscriptionChanged",
}
# Bounce IDs are int64 and exceed 2**53 in Postmark's example; so do these, to catch float parsing.
_bounce_ids = itertools.count(4323372036854775807 - 10**12)

# The client, OS and place the documented Open and Click examples show.
_CLIENT = {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"}
_OS = {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"}
_USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/35.0.1916.153 Safari/537.36"
)
_GEO = {
    "CountryISOCode": "RS",
    "Country": "Serbia",
    "RegionISOCode": "VO",
    "Region": "Autonomna Pokrajina Vojvodina",
    "City": "Novi Sad",
    "Zip": "21000",
    "Coords": "45.2517,19.8369",
    "IP": "188.2.95.4",
}


def build_payload(
    kind: str,
    message: StoredMessage,
    *,
    recipient: str,
    at: datetime,
    server_id: int,
    link: str | None = None,
    first_open: bool = True,
) -> dict[str, Any]:
    """The webhook body Postmark posts for an event of `kind` on `message` for `recipient`."""
    email = message.email
    common: dict[str, Any] = {
        "RecordType": kind,
        "ServerID": server_id,
        "MessageStream": email.message_stream,
        "MessageID": message.message_id,
        "Tag": email.tag or "",
        "Metadata": dict(email.metadata),
    }
    if kind == "Delivery":
        details = "smtp;250 2.0.0 OK (local Postmark-compatible server)"
        return {**common, "Recipient": recipient, "DeliveredAt": webhook_time(at), "Details": details}
    if kind in ("Open", "Click"):
        seen = {"Client": _CLIENT, "OS": _OS, "UserAgent": _USER_AGENT, "Geo": _GEO}
        when = {"ReceivedAt": webhook_time(at), "Recipient": recipient}
        if kind == "Open":
            return {
                **common,
                "FirstOpen": first_open,
                "Platform": "WebMail",
                "ReadSeconds": 0,
                **seen,
                **when,
            }
        return {
            **common,
            "ClickLocation": "HTML",
            "Platform": "Desktop",
            "OriginalLink": link or "",
            **seen,
            **when,
        }
    if kind in ("Bounce", "SpamComplaint"):
        bounce = kind == "Bounce"
        return {
            **common,
            "ID": next(_bounce_ids),
            "Type": "HardBounce" if bounce else "SpamComplaint",
            # The bounce-type table's codes (the docs' SpamComplaint example says 512; the table 100001).
            "TypeCode": 1 if bounce else 100001,
            "Name": "Hard bounce" if bounce else "Spam complaint",
            "Description": (
                "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
                if bounce
                else "The subscriber explicitly marked this message as spam."
            ),
            "Details": "Test bounce details" if bounce else "Test spam complaint details",
            "Email": recipient,
            "From": email.from_,
            "BouncedAt": webhook_time(at),
            "DumpAvailable": False,
            "Inactive": True,
            "CanActivate": bounce,
            "Subject": email.subject,
        }
    if kind == "SubscriptionChange":
        return {
            **common,
            "ChangedAt": webhook_time(at),
            "Recipient": recipient,
            "Origin": "Recipient",
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
        }
    raise ValueError(f"unknown webhook type {kind!r}")


@dataclass(frozen=True)
class Delivery:
    """What happened to one webhook post: the HTTP status the target answered, or the error."""

    url: str | None
    status: int | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """The delivery as the control API reports it."""
        return {"url": self.url, "status": self.status, "error": self.error}


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle takes about 0.1 s; once is enough.
    return httpx.create_ssl_context()


async def post_webhook(
    payload: dict[str, Any],
    *,
    url: str | None,
    auth: tuple[str, str] | None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> Delivery:
    """Post a payload as Postmark does (JSON, basic auth); never raises, a failure is reported."""
    if not url:
        return Delivery(None, None, "no webhook URL configured")
    try:
        async with httpx.AsyncClient(
            auth=auth, timeout=timeout, transport=transport, verify=_tls()
        ) as client:
            response = await client.post(url, json=payload, headers={"User-Agent": "Postmark"})
    except httpx.HTTPError as exc:
        return Delivery(url, None, f"{type(exc).__name__}: {exc}")
    return Delivery(url, response.status_code, None)
