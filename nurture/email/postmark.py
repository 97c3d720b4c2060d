"""Sending through Postmark with postmarker: one client per thread, a timeout on every call,
failures classified, and earlier sends found again by the message key in Metadata."""

import threading
from email.utils import parseaddr
from typing import Any

import requests
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.email.outgoing import NotSent, OutcomeUnknown, OutgoingEmail, RecipientInactive, Rejected
from nurture.schemas.email import METADATA_KEY

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
    def client(self) -> PostmarkClient:
        """This thread's client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = PostmarkClient(
                server_token=self._server_token, root_api_url=self._api_url, timeout=self._timeout
            )
            self._local.client = client
        return client

    def send(self, email: OutgoingEmail) -> str:
        """Send one email; its key travels in Metadata so it can be found again."""
        try:
            response: dict[str, Any] = self.client.emails.send(
                From=email.from_email,
                To=email.to,
                Subject=email.subject,
                HtmlBody=email.html,
                TextBody=email.text,
                Headers=email.headers or None,
                Metadata={METADATA_KEY: email.key},
                Tag=email.tag,
                MessageStream=email.stream,
                # Nurture tracks opens and clicks itself, with signed links it can verify.
                TrackOpens=False,
                TrackLinks="None",
            )
        except Exception as exc:
            error = classify(exc)
            if isinstance(error, RecipientInactive):
                error.why = self._inactive_reason(email)
            raise error from exc
        return str(response["MessageID"])

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
