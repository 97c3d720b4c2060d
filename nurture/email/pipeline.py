"""The send pipeline: render, check eligibility, reserve the key, send, record; at most once per key.

Postmark has no idempotency key, so the ledger is the lock. A key is reserved (status
`sending`, with the rendered email) and committed before the provider is called, and only the
attempt holding the key's lease may call the provider. A later attempt that finds the key
still `sending` does not know whether the provider accepted it, so it asks first (Postmark's
outbound search on the key in Metadata), after a delay that lets Postmark's search catch up,
and sends again only if the provider has no such message and the contact may still get it.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from nurture.crud.contacts import get_contact
from nurture.crud.messages import get_message, get_message_by_key
from nurture.crud.suppressions import suppress_address
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.base import utcnow
from nurture.db.models import Message, SuppressionReason, Template, User
from nurture.db.session import transaction
from nurture.email import ledger
from nurture.email.compose import compose
from nurture.email.eligibility import ineligible_reason, recipient_suppressed
from nurture.email.outgoing import (
    EmailProvider,
    NotSent,
    OutcomeUnknown,
    OutgoingEmail,
    ProviderError,
    RecipientInactive,
    Rejected,
)
from nurture.schemas.email import MessageStatus, SendRequest, SendResult, TemplateKind
from nurture.settings import Settings
from nurture.templates.errors import TemplateRenderError

log = logging.getLogger(__name__)
# Time for database work around the provider calls an attempt's lease covers.
LEASE_MARGIN = timedelta(seconds=15)
# Postmark's reasons for an inactive recipient, as Nurture's suppression reasons.
INACTIVE_REASONS = {
    "HardBounce": SuppressionReason.HARD_BOUNCE,
    "SpamComplaint": SuppressionReason.SPAM_COMPLAINT,
}


class SendDeferred(Exception):
    """Not finished for now (provider failure, another attempt in flight); retry later."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.reason)
        self.error = error


@dataclass(frozen=True)
class Attempt:
    """This attempt's hold on a reserved key, and the email to hand the provider."""

    message_id: int
    email: OutgoingEmail
    claim: ledger.Claim
    # An earlier attempt reserved the key (and may have left it held back or maybe sent).
    earlier: bool


def _failed(request: SendRequest, reason: str) -> SendResult:
    return SendResult(message_id=None, key=request.key, status=MessageStatus.FAILED, reason=reason)


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


class SendPipeline:
    """Sends one email per message key through one provider; built once per worker."""

    def __init__(
        self, *, sessions: sessionmaker[Session], settings: Settings, provider: EmailProvider
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._provider = provider
        # Covers a search and a send, each as long as the provider's timeouts let it be.
        self._lease = timedelta(seconds=2 * provider.max_call_seconds) + LEASE_MARGIN
        self._call = timedelta(seconds=provider.max_call_seconds) + LEASE_MARGIN

    def send(self, request: SendRequest) -> SendResult:
        """Send the email for this request once; raises SendDeferred when a retry should follow."""
        attempt = self._begin(request)
        if isinstance(attempt, SendResult):
            return attempt
        if attempt.earlier:
            settled = self._settle_earlier(attempt)
            if settled is not None:
                return settled
        try:
            provider_id = self._provider.send(attempt.email)
        except RecipientInactive as exc:
            return self._inactive(attempt.message_id, exc)
        except Rejected as exc:
            return self._close(attempt.message_id, MessageStatus.FAILED, exc.reason, count=True)
        except OutcomeUnknown as exc:
            if not self._provider.can_search:
                reason = f"{exc.reason}; the outcome is unknown and not resent, to avoid a duplicate"
                return self._close(attempt.message_id, MessageStatus.FAILED, reason, count=True)
            # Hold the key until the provider's search can be trusted to show the send.
            hold = utcnow() + timedelta(seconds=self._settings.reconcile_delay)
            self._release(attempt.message_id, exc, maybe_sent=True, hold_until=hold)
            raise SendDeferred(exc) from exc
        except ProviderError as exc:
            self._release(attempt.message_id, exc, maybe_sent=False, hold_until=None)
            raise SendDeferred(exc) from exc
        return self._mark_sent(attempt.message_id, provider_id, reconciled=False)

    def give_up(self, request: SendRequest, *, why: str) -> SendResult:
        """Close a key that will not be retried any more: sent if the provider has it, else failed."""
        attempt = self._begin(request)
        if isinstance(attempt, SendResult):
            return attempt
        if attempt.claim.maybe_sent and self._provider.can_search:
            found = self._provider.find_sent(attempt.email)
            if found is not None:
                return self._mark_sent(attempt.message_id, found, reconciled=True)
        return self._close(attempt.message_id, MessageStatus.FAILED, f"gave up: {why}", count=False)

    def _begin(self, request: SendRequest) -> Attempt | SendResult:
        """The key's final result, or this attempt's lease on it (reserving it if new)."""
        owner = str(uuid.uuid4())
        try:
            with transaction(self._sessions) as session:
                existing = get_message_by_key(session, key=request.key)
                if existing is None:
                    return self._reserve(session, request, owner=owner)
        except IntegrityError:
            pass  # another attempt reserved the key just now; it holds the lease
        with transaction(self._sessions) as session:
            existing = get_message_by_key(session, key=request.key)
            assert existing is not None, "the key vanished from the ledger"
            if existing.status != MessageStatus.SENDING:
                return ledger.result_of(existing)
            claim = ledger.claim(session, message_id=existing.id, owner=owner, until=utcnow() + self._lease)
            if claim is None:
                raise SendDeferred(NotSent(f"{request.key} is in flight or held for reconciliation"))
            return Attempt(existing.id, _outgoing(existing), claim, earlier=True)

    def _reserve(self, session: Session, request: SendRequest, *, owner: str) -> Attempt | SendResult:
        contact = get_contact(session, contact_id=request.contact_id)
        if contact is None:
            return _failed(request, f"contact {request.contact_id} does not exist")
        template = session.get(Template, request.template_id)
        if template is None:
            return _failed(request, f"template {request.template_id} does not exist")
        kind = request.kind or template.kind
        recipient = contact.email
        notify = request.to_user_id is not None or request.notify_owner
        if notify:
            user_id = request.to_user_id or contact.owner_id
            user = session.get(User, user_id) if user_id else None
            if user is None:
                return _failed(
                    request, f"no user to notify (user {user_id or 'owner'} of contact {contact.id})"
                )
            recipient, kind = user.email, TemplateKind.TRANSACTIONAL
        settings = self._settings
        streams = {
            TemplateKind.MARKETING: settings.postmark_broadcast_stream,
            TemplateKind.TRANSACTIONAL: settings.postmark_transactional_stream,
        }
        message = Message(
            key=request.key,
            kind=kind,
            provider=self._provider.name,
            stream=streams[kind],
            contact_id=contact.id,
            template_id=template.id,
            list_id=request.list_id,
            to_email=recipient,
            from_email=request.from_email or settings.email_from,
            subject="",
            headers={},
            tag=request.tag,
            status=MessageStatus.SENDING,
            workflow_id=request.workflow_id,
            lease_owner=owner,
            lease_until=utcnow() + self._lease,
        )
        session.add(message)
        session.flush()  # the id goes into tracking and unsubscribe tokens
        if notify:
            # About the contact, to a colleague: only the colleague's own suppression counts.
            reason = recipient_suppressed(session, email=recipient, kind=kind)
        else:
            reason = ineligible_reason(session, contact=contact, kind=kind, list_id=request.list_id)
        if reason is not None:
            return ledger.close(session, message, MessageStatus.SUPPRESSED, reason)
        try:
            compose(
                session,
                message=message,
                template=template,
                contact=contact,
                request=request,
                settings=settings,
            )
        except TemplateRenderError as exc:
            return ledger.close(session, message, MessageStatus.FAILED, f"template {template.id}: {exc}")
        claim = ledger.Claim(owner=owner, maybe_sent=False)
        return Attempt(message.id, _outgoing(message), claim, earlier=False)

    def _settle_earlier(self, attempt: Attempt) -> SendResult | None:
        """Before sending a key an earlier attempt held: its send if it went out, or why not to send."""
        if attempt.claim.maybe_sent:
            if not self._provider.can_search:
                reason = "an attempt stopped mid-send and the provider cannot be asked; not resent"
                return self._close(attempt.message_id, MessageStatus.FAILED, reason, count=False)
            found = self._provider.find_sent(attempt.email)
            if found is not None:
                log.info("Message %s was already accepted as %s; not sending again", attempt.email.key, found)
                return self._mark_sent(attempt.message_id, found, reconciled=True)
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=attempt.message_id)
            assert message is not None
            # Retries can go on for a day: the contact may have opted out since.
            contact = get_contact(session, contact_id=message.contact_id) if message.contact_id else None
            if contact is not None:
                why_not = ineligible_reason(
                    session, contact=contact, kind=message.kind, list_id=message.list_id
                )
                if why_not is not None:
                    return ledger.close(session, message, MessageStatus.SUPPRESSED, why_not)
            # The search and the checks took time: make sure the send still fits in the lease.
            if not ledger.extend(
                session, message_id=message.id, owner=attempt.claim.owner, until=utcnow() + self._call
            ):
                raise SendDeferred(NotSent(f"the lease on {message.key} ran out before sending"))
        return None

    def _inactive(self, message_id: int, error: RecipientInactive) -> SendResult:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            message.attempts += 1
            reason = INACTIVE_REASONS.get(error.why or "")
            if reason is None and message.kind == TemplateKind.TRANSACTIONAL:
                # Suppressed by hand on the transactional stream, or for a reason Postmark did
                # not give: keep transactional email from it too.
                manual = error.why == "ManualSuppression"
                reason = SuppressionReason.MANUAL if manual else SuppressionReason.HARD_BOUNCE
            if reason is not None:
                suppress_address(
                    session,
                    email=message.to_email,
                    reason=reason,
                    source="provider",
                    details=f"{error.reason} (stream {message.stream}, {error.why or 'reason unknown'})",
                    message_id=message.id,
                )
            else:
                # Unsubscribed on the broadcast stream (or unknown there): no more marketing,
                # but transactional email still goes.
                contact = get_contact(session, contact_id=message.contact_id) if message.contact_id else None
                if contact is not None:
                    unsubscribe(session, contact=contact, list_id=None, source="postmark")
            return ledger.close(session, message, MessageStatus.SUPPRESSED, error.reason)

    def _close(self, message_id: int, status: MessageStatus, reason: str, *, count: bool) -> SendResult:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            message.attempts += 1 if count else 0
            return ledger.close(session, message, status, reason)

    def _release(
        self, message_id: int, error: ProviderError, *, maybe_sent: bool, hold_until: datetime | None
    ) -> None:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            ledger.release(
                session, message, reason=error.reason, maybe_sent=maybe_sent, hold_until=hold_until
            )

    def _mark_sent(self, message_id: int, provider_id: str, *, reconciled: bool) -> SendResult:
        with transaction(self._sessions) as session:
            message = get_message(session, message_id=message_id)
            assert message is not None
            return ledger.mark_sent(session, message, provider_id=provider_id, reconciled=reconciled)
