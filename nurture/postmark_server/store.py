"""Everything the server remembers, in memory behind one lock, optionally kept in a JSON file."""

import dataclasses
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from nurture.postmark_server.clock import api_time, now
from nurture.postmark_server.templates import Template
from nurture.postmark_server.validation import Address, Email


@dataclass
class StoredMessage:
    """An accepted message with its Postmark id, arrival time and the events fired for it."""

    message_id: str
    received_at: datetime
    email: Email
    events: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The message as `GET /messages/outbound` lists it."""
        email = self.email
        return {
            "MessageID": self.message_id,
            "To": [a.as_json() for a in email.to],
            "Cc": [a.as_json() for a in email.cc],
            "Bcc": [a.as_json() for a in email.bcc],
            "Recipients": [a.email for a in email.recipients],
            "ReceivedAt": api_time(self.received_at),
            "From": email.from_,
            "Subject": email.subject,
            "Tag": email.tag or "",
            "Metadata": dict(email.metadata),
            "MessageStream": email.message_stream,
            "Status": "Sent",
            "TrackOpens": email.track_opens,
            "TrackLinks": email.track_links,
            "Attachments": [a["Name"] for a in email.attachments],
        }

    def details(self) -> dict[str, Any]:
        """The message as `GET /messages/outbound/{id}/details` returns it."""
        return {
            **self.summary(),
            "HtmlBody": self.email.html_body or "",
            "TextBody": self.email.text_body or "",
            "Body": self.mime(),
            "MessageEvents": list(self.events),
        }

    def full(self) -> dict[str, Any]:
        """Everything, for the local control API: details plus headers, reply-to and template."""
        email = self.email
        return {
            **self.details(),
            "ReplyTo": email.reply_to,
            "Headers": list(email.headers),
            "Template": email.template,
            # Postmark's own views name the files only; the local one shows them as posted.
            "AttachmentFiles": list(email.attachments),
        }

    def mime(self) -> str:
        """A plain rendering of the message source, standing in for Postmark's raw `Body`."""
        email = self.email
        source = EmailMessage()
        source["Message-ID"] = f"<{self.message_id}@local.postmark>"
        source["From"] = email.from_
        source["To"] = ", ".join(a.email for a in email.to)
        if email.cc:
            source["Cc"] = ", ".join(a.email for a in email.cc)
        source["Subject"] = email.subject
        for header in email.headers:
            source[header["Name"]] = header["Value"]
        source.set_content(email.text_body or "")
        if email.html_body:
            source.add_alternative(email.html_body, subtype="html")
        return source.as_string()


@dataclass
class Suppression:
    """An inactive recipient of one message stream."""

    email: str
    reason: str
    origin: str
    created_at: datetime

    def as_json(self) -> dict[str, str]:
        """Postmark's suppression dump shape."""
        return {
            "EmailAddress": self.email,
            "SuppressionReason": self.reason,
            "Origin": self.origin,
            "CreatedAt": api_time(self.created_at),
        }


def _email_from_json(data: dict[str, Any]) -> Email:
    addresses = {k: [Address(**a) for a in data[k]] for k in ("to", "cc", "bcc")}
    return Email(**{**data, **addresses})


class Store:
    """Messages, suppressions and templates; every method is thread-safe."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._path = path
        self._messages: dict[str, StoredMessage] = {}
        # MessageIDs by (metadata key lower-cased, value), oldest first: a search for one key's
        # message (how a sender reconciles) reads its few candidates, not every message.
        self._by_metadata: dict[tuple[str, str], list[str]] = {}
        self._suppressions: dict[str, dict[str, Suppression]] = {}
        self._templates: dict[int, Template] = {}
        if path is not None and path.exists():
            self._load(path)

    # -- messages

    def add(self, email: Email) -> StoredMessage:
        """Accept a message: give it a MessageID and keep it."""
        message = StoredMessage(str(uuid.uuid4()), now(), email)
        with self._lock:
            self._keep(message)
            self._save()
        return message

    def add_many(self, emails: list[Email]) -> list[StoredMessage]:
        """Accept the messages of a batch together, saved once (not once per message)."""
        messages = [StoredMessage(str(uuid.uuid4()), now(), email) for email in emails]
        with self._lock:
            for message in messages:
                self._keep(message)
            if messages:
                self._save()
        return messages

    def get(self, message_id: str) -> StoredMessage | None:
        """The message with this MessageID, or None."""
        with self._lock:
            return self._messages.get(message_id)

    def messages(
        self,
        where: Callable[[StoredMessage], bool] = lambda _: True,
        *,
        metadata: tuple[str, str] | None = None,
    ) -> list[StoredMessage]:
        """The messages that match `where` (and carry `metadata`, a key and its value), newest first."""
        with self._lock:
            if metadata is None:
                candidates = list(self._messages.values())
            else:
                ids = self._by_metadata.get((metadata[0].lower(), metadata[1]), [])
                candidates = [self._messages[i] for i in ids]
            return [m for m in reversed(candidates) if where(m)]

    def _keep(self, message: StoredMessage) -> None:
        self._messages[message.message_id] = message
        for key, value in message.email.metadata.items():
            self._by_metadata.setdefault((key.lower(), value), []).append(message.message_id)

    def add_event(self, message_id: str, event: dict[str, Any]) -> None:
        """Record a MessageEvents entry on a message."""
        with self._lock:
            message = self._messages.get(message_id)
            if message is not None:
                message.events.append(event)
                self._save()

    def clear_messages(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()
            self._by_metadata.clear()
            self._save()

    # -- suppressions (per message stream, addresses compared case-insensitively)

    def suppress(self, stream: str, email: str, *, reason: str, origin: str) -> Suppression:
        """Mark an address inactive on a stream; an existing suppression is kept as it was."""
        with self._lock:
            entries = self._suppressions.setdefault(stream, {})
            entry = entries.setdefault(email.lower(), Suppression(email, reason, origin, now()))
            self._save()
            return entry

    def unsuppress(self, stream: str, email: str) -> bool:
        """Reactivate an address on a stream; False when it was not suppressed."""
        with self._lock:
            removed = self._suppressions.get(stream, {}).pop(email.lower(), None)
            self._save()
            return removed is not None

    def inactive(self, stream: str, emails: list[str]) -> list[str]:
        """Those of `emails` suppressed on the stream, in the order given."""
        with self._lock:
            entries = self._suppressions.get(stream, {})
            return [e for e in emails if e.lower() in entries]

    def suppressions(self, stream: str) -> list[Suppression]:
        """Every suppression of a stream, oldest first."""
        with self._lock:
            return list(self._suppressions.get(stream, {}).values())

    # -- templates

    def add_template(
        self, *, name: str, alias: str | None, subject: str, html_body: str | None, text_body: str | None
    ) -> Template:
        """Create a template with the next TemplateId."""
        with self._lock:
            template_id = max(self._templates, default=0) + 1
            template = Template(template_id, name, alias, subject, html_body, text_body)
            self._templates[template.template_id] = template
            self._save()
            return template

    def template(self, *, template_id: int | None, alias: str | None) -> Template | None:
        """The template with this id, else with this alias, or None."""
        with self._lock:
            if template_id is not None:
                return self._templates.get(template_id)
            return next((t for t in self._templates.values() if alias and t.alias == alias), None)

    def alias_taken(self, alias: str) -> bool:
        """Whether a template already has this alias."""
        with self._lock:
            return any(t.alias == alias for t in self._templates.values())

    def clear(self) -> None:
        """Forget messages, suppressions and templates."""
        with self._lock:
            self._messages.clear()
            self._by_metadata.clear()
            self._suppressions.clear()
            self._templates.clear()
            self._save()

    # -- persistence

    def _save(self) -> None:
        if self._path is None:
            return
        data = {
            "messages": [
                {
                    "message_id": m.message_id,
                    "received_at": m.received_at.isoformat(),
                    "email": dataclasses.asdict(m.email),
                    "events": m.events,
                }
                for m in self._messages.values()
            ],
            "suppressions": {
                stream: [
                    {**dataclasses.asdict(s), "created_at": s.created_at.isoformat()}
                    for s in entries.values()
                ]
                for stream, entries in self._suppressions.items()
            },
            "templates": [dataclasses.asdict(t) for t in self._templates.values()],
        }
        # Written aside and renamed, so a crash never leaves half a file behind.
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, self._path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        for item in data.get("messages", []):
            message = StoredMessage(
                item["message_id"],
                datetime.fromisoformat(item["received_at"]),
                _email_from_json(item["email"]),
                item["events"],
            )
            self._keep(message)
        for stream, entries in data.get("suppressions", {}).items():
            self._suppressions[stream] = {
                e["email"].lower(): Suppression(
                    e["email"], e["reason"], e["origin"], datetime.fromisoformat(e["created_at"])
                )
                for e in entries
            }
        for item in data.get("templates", []):
            self._templates[item["template_id"]] = Template(**item)
