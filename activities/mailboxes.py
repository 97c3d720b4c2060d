"""MailboxActivities: 1:1 email through a user's connected mailbox (SMTP, a copy in Sent) and the
sync that reads replies from it (IMAP)."""

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deferral import retry_error
from nurture.automations.runs import ContactDispatch
from nurture.automations.triggers import triggered
from nurture.db.base import utcnow
from nurture.db.models import Contact, Deal, DealContact, Message, User
from nurture.db.session import transaction
from nurture.email.compose import outgoing_of
from nurture.email.engagement import deliver_engagement, engagement_of
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.email.replies import record_reply, reply_changes
from nurture.email.smtp import SmtpConfig, SmtpProvider, build_mime
from nurture.mailbox.errors import MailboxError, MailboxUnavailable
from nurture.mailbox.fetch import fetch_since
from nurture.mailbox.folders import append_sent
from nurture.mailbox.parse import parse_email
from nurture.mailbox.secrets import SecretUnreadable
from nurture.mailbox.store import answered_message, config_of, mailbox_of, sender_of
from nurture.observability.send_counter import SendCounter
from nurture.schemas.email import Engagement, GiveUp, SendRequest, SendResult
from nurture.schemas.mailbox import OwnerFound, OwnerLookup, OwnerSender, SyncResult
from nurture.settings import Settings

# Replies read per sync activity; more wait for the next, which follows at once.
SYNC_BATCH = 50
# On the first sync (or after the folder's UIDVALIDITY changed), replies from this far back.
FIRST_SYNC_LOOKBACK = timedelta(days=7)


def _triggered_by_reply(session: Session, message: Message) -> list[ContactDispatch]:
    """The automations a reply to `message` starts, worked out with the reply's recording, so the
    sync's workflow starts them durably (as a run's own contact steps do)."""
    changes = reply_changes(message)
    if not changes or message.contact_id is None:
        return []
    automations = [match.automation_id for match in triggered(session, changes=changes)]
    return [ContactDispatch(contact_id=message.contact_id, automations=automations)] if automations else []


class MailboxActivities:
    """Activities of connected mailboxes; built once per worker."""

    def __init__(
        self, *, sessions: sessionmaker[Session], settings: Settings, counter: SendCounter | None = None
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._counter = counter

    def _pipeline(self, user_id: int | None) -> SendPipeline:
        if user_id is None:
            raise ApplicationError("a mailbox send names no user", non_retryable=True)
        with self._sessions() as session:
            mailbox = mailbox_of(session, user_id)
            if mailbox is None:
                raise ApplicationError(f"user {user_id} has no connected mailbox", non_retryable=True)
            config = config_of(mailbox, self._settings)
        provider = SmtpProvider(config.smtp_config(timeout=self._settings.postmark_timeout))
        return SendPipeline(
            sessions=self._sessions, settings=self._settings, provider=provider, counter=self._counter
        )

    @activity.defn(name="owner_sender")
    def owner_sender(self, lookup: OwnerLookup) -> OwnerFound:
        """Who an automation's 1:1 email is from: the contact's owner, or the owner of the
        contact's latest deal; none when there is none."""
        with self._sessions() as session:
            contact = session.get(Contact, lookup.contact_id)
            if contact is None:
                return OwnerFound(sender=None)
            deal = None
            if lookup.owner_of == "deal":
                deal = session.scalar(
                    select(Deal)
                    .join(DealContact, DealContact.deal_id == Deal.id)
                    .where(DealContact.contact_id == contact.id)
                    .order_by(Deal.id.desc())
                    .limit(1)
                )
            owner_id = (
                deal.owner_id
                if deal is not None
                else (contact.owner_id if lookup.owner_of == "contact" else None)
            )
            user = session.get(User, owner_id) if owner_id is not None else None
            if user is None:
                return OwnerFound(sender=None)
            from_email, via_mailbox = sender_of(session, user)
            account_id = deal.account_id if deal is not None else contact.account_id
            sender = OwnerSender(
                user_id=user.id,
                from_email=from_email,
                via_mailbox=via_mailbox,
                deal_id=deal.id if deal is not None else None,
                account_id=account_id,
            )
            return OwnerFound(sender=sender)

    @activity.defn(name="send_mailbox_email")
    def send_mailbox_email(self, request: SendRequest) -> SendResult:
        """Send one 1:1 email through its user's mailbox (SMTP), at most once per key."""
        try:
            return self._pipeline(request.user_id).send(request)
        except SendDeferred as deferred:
            raise retry_error(deferred) from deferred

    @activity.defn(name="give_up_mailbox_send")
    def give_up_mailbox_send(self, input: GiveUp) -> SendResult:
        """Close a mailbox send that will not be retried any more (SMTP cannot be asked: failed)."""
        # SMTP cannot be asked whether it took an email, so giving up calls no server and needs
        # neither the mailbox nor its secret: either may be gone (disconnected, another secret key).
        unreachable = SmtpProvider(SmtpConfig(hostname="", timeout=self._settings.postmark_timeout))
        closing = SendPipeline(sessions=self._sessions, settings=self._settings, provider=unreachable)
        try:
            return closing.give_up(input.request, why=input.why)
        except SendDeferred as deferred:
            raise retry_error(deferred) from deferred

    @activity.defn(name="save_sent_copy")
    def save_sent_copy(self, message_id: int) -> bool:
        """Append a sent mailbox email, with its Bcc, to the mailbox's Sent folder; False if not sent.

        A retry after a crash mid-append may leave two copies: IMAP APPEND cannot be made
        conditional, and a second copy costs less than none.
        """
        with self._sessions() as session:
            message = session.get(Message, message_id)
            if message is None or message.sent_at is None or message.user_id is None:
                return False
            mailbox = mailbox_of(session, message.user_id)
            if mailbox is None:
                return False  # disconnected since: no mailbox to keep it in
            config = config_of(mailbox, self._settings)
            raw = build_mime(outgoing_of(message), date=message.sent_at, with_bcc=True).as_bytes()
        append_sent(config, raw)
        return True

    @activity.defn(name="sync_mailbox")
    async def sync_mailbox(self, user_id: int) -> SyncResult:
        """Read the replies that arrived in the user's inbox since the last sync, and record them.

        Each reply to one of the user's mailbox emails goes onto that email, the contact's
        stream and the Emails lists, and reaches the workflow that sent it; automatic replies are
        skipped. Runs the blocking IMAP and database work on a thread.
        """
        result, engagements = await asyncio.to_thread(self._sync, user_id)
        client = activity.client()
        for workflow_id, engagement in engagements:
            await deliver_engagement(client, workflow_id=workflow_id, engagement=engagement)
        return result

    def _sync(self, user_id: int) -> tuple[SyncResult, list[tuple[str | None, Engagement]]]:
        since = (utcnow() - FIRST_SYNC_LOOKBACK).date()
        try:
            with self._sessions() as session:
                mailbox = mailbox_of(session, user_id)
                if mailbox is None:
                    return SyncResult(connected=False), []
                config = config_of(mailbox, self._settings)
                validity, after = mailbox.uid_validity, mailbox.last_uid
            fetched = fetch_since(
                config, uid_validity=validity, after_uid=after, limit=SYNC_BATCH, since=since
            )
        except MailboxUnavailable as exc:
            self._note_error(user_id, str(exc))
            raise  # transient: the activity retries
        except (MailboxError, SecretUnreadable) as exc:
            # A refused login or an unreadable secret: the next sync tries again, the user sees why.
            self._note_error(user_id, str(exc))
            return SyncResult(connected=True, error=str(exc)), []
        engagements: list[tuple[str | None, Engagement]] = []
        dispatches: list[ContactDispatch] = []
        recorded = 0
        with transaction(self._sessions) as session:
            mailbox = mailbox_of(session, user_id)
            if mailbox is None:
                return SyncResult(connected=False), []
            for found in fetched.messages:
                reply = parse_email(found.raw)
                if reply.automatic is not None:
                    continue
                message = answered_message(session, user_id=user_id, reply=reply)
                if message is None:
                    continue
                event = record_reply(session, message=message, reply=reply, source="mailbox")
                if event is not None:
                    recorded += 1
                    engagements.append((message.workflow_id, engagement_of(message, event)))
                    dispatches += _triggered_by_reply(session, message)
            mailbox.uid_validity, mailbox.last_uid = fetched.uid_validity, fetched.last_uid
            mailbox.last_synced_at, mailbox.last_error = utcnow(), None
        result = SyncResult(
            connected=True,
            fetched=len(fetched.messages),
            recorded=recorded,
            more=fetched.more,
            dispatches=dispatches,
        )
        return result, engagements

    def _note_error(self, user_id: int, error: str) -> None:
        with transaction(self._sessions) as session:
            mailbox = mailbox_of(session, user_id)
            if mailbox is not None:
                mailbox.last_error = error
