"""Sending through Postmark with postmarker: one client per thread, a timeout on every call,
failures classified, and earlier sends found again by the message key in Metadata."""

import base64
import threading
from email.utils import parseaddr
from typing import Any

import requests
from postmarker.exceptions import ClientError

from nurture.email.outgoing import (
    Attachment,
    NotSent,
    OutcomeUnknown,
    OutgoingEmail,
    ProviderError,
    RecipientInactive,
    Rejected,
)
from nurture.email.postmark_client import JsonPostmarkClient
from nurture.schemas.email import MAX_BATCH, METADATA_KEY

# Postmark ErrorCodes that mean "this request will never succeed" (../shared/research/postmark.md 1.5).
PERMANENT = {300, 400, 401, 402, 403, 409, 410, 411, 1101}
INACTIVE_RECIPIENT = 406
# Connecting should be quick; an answer may take the whole timeout.
CONNECT_TIMEOUT = 5.0


def _status(exc: BaseException) -> int | None:
    cause = exc.__cause__ if isinstance(exc, ClientError) else exc
    response = getattr(cause, "response", None)
    return getattr(response, "status_code", None)


def classify(exc: Exception) -> Exception:
    """The provider error a postmarker or requests failure means."""
    if isinstance(exc, ClientError):
        status, code = _status(exc), exc.error_code
        reason = f"Postmark: {exc}"
        if code == INACTIVE_RECIPIENT:
            return RecipientInactive(reason, code=code)
        if status is not None and status >= 500:
            # "In most cases the message is lost", says Postmark; most is not all: reconcile.
            return OutcomeUnknown(reason, code=code)
        if code in PERMANENT:
            return Rejected(reason, code=code)
        # 429, 100 (maintenance), account errors an operator can fix (10 bad token, 405 not allowed
        # to send, 412/413 account pending) and anything new: not sent, so retry.
        return NotSent(reason, code=code)
    if isinstance(exc, requests.HTTPError):
        status = _status(exc)
        if status is not None and status >= 500 and status != 503:
            return OutcomeUnknown(f"Postmark answered HTTP {status}")
        return NotSent(f"Postmark answered HTTP {status} without an error code")
    if isinstance(exc, requests.ConnectTimeout):
        return NotSent(f"Postmark unreachable: {exc}")
    if isinstance(exc, requests.ConnectionError) and "Connection refused" in str(exc):
        return NotSent(f"Postmark unreachable: {exc}")
    if isinstance(exc, requests.RequestException | KeyError | ValueError):
        # A read timeout, a reset after the request went out, or an answer that is not Postmark's
        # JSON (postmarker raises KeyError without an ErrorCode): it may have been accepted.
        return OutcomeUnknown(f"No usable answer from Postmark: {type(exc).__name__}: {exc}")
    return exc


def classify_result(answer: Any) -> ProviderError | None:
    """The error one message of a batch met, from its own ErrorCode; None if it was accepted."""
    if not isinstance(answer, dict):
        return OutcomeUnknown(f"No usable answer from Postmark for this message: {answer!r:.200}")
    code = answer.get("ErrorCode")
    if not isinstance(code, int) or (code == 0 and not answer.get("MessageID")):
        return OutcomeUnknown(f"No usable answer from Postmark for this message: {answer!r:.200}")
    if code == 0:
        return None
    reason = f"Postmark: [{code}] {answer.get('Message', '')}"
    if code == INACTIVE_RECIPIENT:
        return RecipientInactive(reason, code=code)
    if code in PERMANENT:
        return Rejected(reason, code=code)
    # As for a single send: maintenance, rate limits and account errors an operator can fix.
    return NotSent(reason, code=code)


def _payload(email: OutgoingEmail) -> dict[str, Any]:
    """postmarker's fields for one email, the same for a single send and in a batch."""
    return {
        "From": email.from_email,
        "To": email.to,
        "Subject": email.subject,
        "HtmlBody": email.html,
        "TextBody": email.text,
        "Headers": email.headers or None,
        "ReplyTo": email.reply_to,
        # Nurture's key last: the caller's metadata cannot hide it.
        "Metadata": {**email.metadata, METADATA_KEY: email.key},
        "Tag": email.tag,
        "MessageStream": email.stream,
        # Nurture tracks opens and clicks itself, with signed links it can verify.
        "TrackOpens": False,
        "TrackLinks": "None",
        "Attachments": [_attachment(file) for file in email.attachments] or None,
    }


def _attachment(file: Attachment) -> dict[str, str]:
    """Postmark's attachment object; an inline image's ContentID is `cid:` and its id."""
    fields = {
        "Name": file.name,
        "Content": base64.b64encode(file.content).decode("ascii"),
        "ContentType": file.content_type,
    }
    if file.content_id is not None:
        fields["ContentID"] = f"cid:{file.content_id}"
    return fields


class PostmarkProvider:
    """Postmark through postmarker; safe to share between the worker's activity threads."""

    name = "postmark"
    can_search = True

    def __init__(self, *, server_token: str, api_url: str, timeout: float) -> None:
        self._server_token = server_token
        self._api_url = api_url
        # requests applies a (connect, read) pair per call; a bare number would apply to each.
        self._timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self.max_call_seconds = sum(self._timeout)
        # postmarker shares one requests.Session per client, and Sessions are not thread-safe.
        self._local = threading.local()

    @property
    def client(self) -> JsonPostmarkClient:
        """This thread's client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = JsonPostmarkClient(
                server_token=self._server_token, root_api_url=self._api_url, timeout=self._timeout
            )
            self._local.client = client
        return client

    def send(self, email: OutgoingEmail) -> str:
        """Send one email; its key travels in Metadata so it can be found again."""
        try:
            response: dict[str, Any] = self.client.emails.send(**_payload(email))
        except Exception as exc:
            error = classify(exc)
            if isinstance(error, RecipientInactive):
                error.why = self._inactive_reason(email)
            raise error from exc
        return str(response["MessageID"])

    def send_batch(self, emails: list[OutgoingEmail]) -> list[str | ProviderError]:
        """Send up to 500 emails in one call to `/email/batch`, each with its key in Metadata.

        Postmark answers a batch with HTTP 200 and one result per message, in order, failed ones
        included (postmarker raises for none of them), so every result's ErrorCode is read.
        """
        if len(emails) > MAX_BATCH:
            raise ValueError(f"a Postmark batch holds at most {MAX_BATCH} emails, not {len(emails)}")
        if not emails:
            return []
        try:
            answers: Any = self.client.emails.send_batch(*(_payload(email) for email in emails))
        except Exception as exc:
            raise classify(exc) from exc
        if not isinstance(answers, list) or len(answers) != len(emails):
            # Not Postmark's answer: the batch may or may not have been taken.
            raise OutcomeUnknown(f"Postmark answered a batch of {len(emails)} with {answers!r:.200}")
        results: list[str | ProviderError] = []
        for email, answer in zip(emails, answers, strict=True):
            error = classify_result(answer)
            if isinstance(error, RecipientInactive):
                error.why = self._inactive_reason(email)
            results.append(error if error is not None else str(answer["MessageID"]))
        return results

    def _inactive_reason(self, email: OutgoingEmail) -> str | None:
        """Why Postmark suppressed the recipient on this stream, from its suppression dump."""
        stream = email.stream or "outbound"
        address = parseaddr(email.to)[1] or email.to
        try:
            dump = self.client.call(
                "GET", f"/message-streams/{stream}/suppressions/dump", EmailAddress=address
            )
        except Exception:
            return None
        for entry in dump.get("Suppressions") or []:
            if str(entry.get("EmailAddress", "")).lower() == address.lower():
                return str(entry.get("SuppressionReason") or "") or None
        return None

    def find_sent(self, email: OutgoingEmail) -> str | None:
        """Search Postmark's outbound messages for this key (one metadata filter per query)."""
        params: dict[str, Any] = {"count": 1, "offset": 0, f"metadata_{METADATA_KEY}": email.key}
        if email.stream:
            params["messagestream"] = email.stream
        try:
            found = self.client.call("GET", "/messages/outbound", **params)
        except Exception as exc:
            error = classify(exc)
            # Never send again without knowing: any failure to search is "try later".
            raise NotSent(f"Cannot search Postmark for {email.key}: {error}") from exc
        messages = found.get("Messages") or []
        return str(messages[0]["MessageID"]) if messages else None
