"""The send pipeline: render, check eligibility, reserve the key, send, record; at most once per key.

Postmark has no idempotency key, so the ledger is the lock: a key is reserved (status
`sending`, with the rendered email) and committed before the provider is called. Any later
attempt that finds the key still `sending` does not know whether the provider accepted it, so
it asks the provider first (Postmark's outbound search on the key in Metadata) and sends again
only if the provider has no such message.
"""

import logging
from dataclasses import dataclass
from email.utils import parseaddr
from html import escape

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nurture.crud.activity import record_activity
from nurture.crud.contacts import get_contact
from nurture.crud.messages import get_message, get_message_by_key, save_links
from nurture.crud.suppressions import suppress
from nurture.db.base import utcnow
from nurture.db.models import Contact, Message, SuppressionReason, Template
from nurture.db.session import transaction
from nurture.email.eligibility import ineligible_reason
from nurture.email.outgoing import EmailProvider, OutgoingEmail, ProviderError, RecipientInactive, Rejected
from nurture.schemas.email import MessageStatus, SendRequest, SendResult, TemplateKind
from nurture.settings import Settings
from nurture.templates.render import Sender, TemplateRenderError, render_email
from nurture.tracking.links import instrument, unsubscribe_headers, unsubscribe_url

log = logging.getLogger(__name__)


class SendDeferred(Exception):
    """The provider failed transiently; the key stays reserved and a retry reconciles first."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.reason)
        self.error = error


@dataclass(frozen=True)
class Reserved:
    """A key reserved in the ledger, with the email to hand the provider."""

    message_id: int
    email: OutgoingEmail
    # True when an earlier attempt reserved it: it may already have been sent.
    earlier_attempt: bool


def _result(message: Message) -> SendResult:
    return SendResult(
        message_id=message.id,
        key=message.key,
        status=message.status,
        reason=message.reason,
        provider_message_id=message.provider_message_id,
    )


def _outgoing(message: Message) -> OutgoingEmail:
    return OutgoingEmail(
        key=message.key,
        from_email=message.from_email,
        to=message.to_email,
        subject=message.subject,
        html=message.html_body,
        text=message.text_body,
        stream=message.stream,
        tag=message.tag,
        headers=dict(message.headers),
    )


def _sender(from_email: str) -> Sender:
    name, address = parseaddr(from_email)
    return Sender(name=name or None, email=address or from_email)


class SendPipeline:
    """Sends one email per message key through one provider; built once per worker."""

    def __init__(
        self, *, sessions: sessionmaker[Session], settings: Settings, provider: EmailProvider
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._provider = provider

    def send(self, request: SendRequest) -> SendResult:
        """Send the email for this request once; raises SendDeferred when a retry should follow."""
        reserved = self._reserve(request)
        if isinstance(reserved, SendResult):
            return reserved
        if reserved.earlier_attempt:
            found = self._provider.find_sent(reserved.email)
            if found is not None:
                log.info("Message %s was already accepted as %s; not sending again", request.key, found)
                return self._mark_sent(reserved.message_id, found, reconciled=True)
        try:
            provider_id = self._provider.send(reserved.email)
        except RecipientInactive as exc:
            return self._mark_inactive(reserved.message_id, exc)
        except Rejected as exc:
            return self._finish(reserved.message_id, MessageStatus.FAILED, exc.reason)
        except ProviderError as exc:
            self._note_attempt(reserved.message_id, exc)
            raise SendDeferred(exc) from exc
        return self._mark_sent(reserved.message_id, provider_id, reconciled=False)

    def _stream(self, kind: TemplateKind) -> str:
        settings = self._settings
        if kind == TemplateKind.MARKETING:
            return settings.postmark_broadcast_stream
        return settings.postmark_transactional_stream

    def _reserve(self, request: SendRequest) -> Reserved | SendResult:
        """Find the key in the ledger, or decide and record what to do with it, in one transaction."""
        try:
            with transaction(self._sessions) as session:
                existing = get_message_by_key(session, key=request.key)
                if existing is not None:
                    if existing.status != MessageStatus.SENDING:
                        return _result(existing)
                    return Reserved(existing.id, _outgoing(existing), earlier_attempt=True)
                return self._decide(session, request)
        except IntegrityError:
            # Another run reserved the same key at the same moment; it sends, this one reports.
            with self._sessions() as session:
                raced = get_message_by_key(session, key=request.key)
                if raced is None:
                    raise
                if raced.status == MessageStatus.SENDING:
                    return Reserved(raced.id, _outgoing(raced), earlier_attempt=True)
                return _result(raced)

    def _decide(self, session: Session, request: SendRequest) -> Reserved | SendResult:
        contact = get_contact(session, contact_id=request.contact_id)
        if contact is None:
            return SendResult(
                message_id=None,
                key=request.key,
                status=MessageStatus.FAILED,
                reason=f"contact {request.contact_id} does not exist",
            )
        template = session.get(Template, request.template_id)
        if template is None:
            return SendResult(
                message_id=None,
                key=request.key,
                status=MessageStatus.FAILED,
                reason=f"template {request.template_id} does not exist",
            )
        kind = request.kind or template.kind
        from_email = request.from_email or self._settings.email_from
        message = Message(
            key=request.key,
            kind=kind,
            provider=self._provider.name,
            stream=self._stream(kind),
            contact_id=contact.id,
            template_id=template.id,
            list_id=request.list_id,
            to_email=contact.email,
            from_email=from_email,
            subject="",
            headers={},
            tag=request.tag,
            status=MessageStatus.SENDING,
            workflow_id=request.workflow_id,
        )
        session.add(message)
        session.flush()  # the id goes into tracking and unsubscribe tokens

        reason = ineligible_reason(session, contact=contact, kind=kind, list_id=request.list_id)
        if reason is not None:
            return self._close(session, message, MessageStatus.SUPPRESSED, reason)
        try:
            self._render(session, message, template=template, contact=contact, request=request)
        except TemplateRenderError as exc:
            return self._close(session, message, MessageStatus.FAILED, f"template {template.id}: {exc}")
        return Reserved(message.id, _outgoing(message), earlier_attempt=False)

    def _render(
        self,
        session: Session,
        message: Message,
        *,
        template: Template,
        contact: Contact,
        request: SendRequest,
    ) -> None:
        settings = self._settings
        extra: dict[str, str] = {}
        headers: dict[str, str] = {}
        if message.kind == TemplateKind.MARKETING:
            link = unsubscribe_url(settings, message_id=message.id)
            extra["unsubscribe_url"] = link
            headers.update(unsubscribe_headers(link))
        rendered = render_email(
            session,
            template=template,
            contact=contact,
            sender=_sender(message.from_email),
            model=request.model,
            extra=extra,
        )
        html = rendered.html
        if "unsubscribe_url" in extra and extra["unsubscribe_url"] not in html:
            # Marketing email always shows a visible way out, even if the template forgot it.
            html = _with_unsubscribe_footer(html, extra["unsubscribe_url"])
        text = rendered.text
        if "unsubscribe_url" in extra and extra["unsubscribe_url"] not in text:
            text = f"{text}\n\nUnsubscribe: {extra['unsubscribe_url']}\n"
        tracked = instrument(html=html, text=text, message_id=message.id, settings=settings)
        message.subject = rendered.subject
        message.html_body = tracked.html
        message.text_body = tracked.text
        message.headers = headers
        save_links(session, message=message, urls=tracked.urls)

    def _close(self, session: Session, message: Message, status: MessageStatus, reason: str) -> SendResult:
        message.status = status
        message.reason = reason
        event = "email.suppressed" if status == MessageStatus.SUPPRESSED else "email.failed"
        if message.contact_id is not None:
            record_activity(
                session,
                contact_id=message.contact_id,
                type=event,
                data={"message_id": message.id, "message_key": message.key, "reason": reason},
            )
        session.flush()
        return _result(message)

    def _finish(self, message_id: int, status: MessageStatus, reason: str) -> SendResult:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            message.attempts += 1
            return self._close(session, message, status, reason)

    def _mark_inactive(self, message_id: int, error: RecipientInactive) -> SendResult:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            message.attempts += 1
            suppress(
                session,
                email=message.to_email,
                reason=SuppressionReason.HARD_BOUNCE,
                source="provider",
                details=f"{error.reason} (stream {message.stream})",
                message_id=message.id,
            )
            return self._close(session, message, MessageStatus.SUPPRESSED, error.reason)

    def _note_attempt(self, message_id: int, error: ProviderError) -> None:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            message.attempts += 1
            message.reason = f"attempt {message.attempts}: {error.reason}"

    def _mark_sent(self, message_id: int, provider_id: str, *, reconciled: bool) -> SendResult:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            message.status = MessageStatus.SENT
            message.provider_message_id = provider_id
            message.sent_at = utcnow()
            message.reason = None
            message.attempts += 0 if reconciled else 1
            if message.contact_id is not None:
                data: dict[str, object] = {
                    "message_id": message.id,
                    "message_key": message.key,
                    "subject": message.subject,
                    "template_id": message.template_id,
                    "stream": message.stream,
                }
                if reconciled:
                    data["reconciled"] = True
                record_activity(session, contact_id=message.contact_id, type="email.sent", data=data)
            session.flush()
            return _result(message)


def _with_unsubscribe_footer(html: str, url: str) -> str:
    footer = (
        '<p style="font-size:12px;color:#666">'
        f'<a href="{escape(url)}" data-nurture-track="off">Unsubscribe</a></p>'
    )
    index = html.lower().rfind("</body>")
    return html[:index] + footer + html[index:] if index >= 0 else html + footer
