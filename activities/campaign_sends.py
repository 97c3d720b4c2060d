"""CampaignSendActivities: a batch of a campaign's recipients through the send pipeline (email queue)."""

from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deferral import retry_error
from activities.heartbeat import heartbeating
from nurture.campaigns.sending import BatchCounts, CampaignBatch
from nurture.db.models import Campaign, CampaignRecipient, MessageStatus, RecipientStatus, TemplateKind
from nurture.db.session import readers, transaction
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.schemas.email import SendRequest

_RECIPIENT_STATUS = {
    MessageStatus.SENT: RecipientStatus.SENT,
    MessageStatus.SUPPRESSED: RecipientStatus.SUPPRESSED,
    MessageStatus.FAILED: RecipientStatus.FAILED,
}

_RECIPIENTS = cast(Table, CampaignRecipient.__table__)
# The batch's outcomes in one executemany on the table: the ORM's bulk UPDATE by primary key
# spent more time collecting its parameters than the database spent writing them.
_RECORD_OUTCOME = (
    update(_RECIPIENTS)
    .where(
        _RECIPIENTS.c.campaign_id == bindparam("recipient_campaign_id"),
        _RECIPIENTS.c.position == bindparam("recipient_position"),
    )
    .values(
        status=bindparam("recipient_status"),
        message_id=bindparam("recipient_message_id"),
        reason=bindparam("recipient_reason"),
    )
)


def campaign_message_key(campaign_id: int, contact_id: int) -> str:
    """The one message key of a campaign's email to a contact: what makes it go out once."""
    return f"campaign:{campaign_id}:contact:{contact_id}"


def _requests(session: Session, batch: CampaignBatch) -> list[tuple[int, SendRequest]]:
    """The batch's pending recipients as send requests, with their positions."""
    campaign = session.get(Campaign, batch.campaign_id)
    if campaign is None:
        raise ApplicationError(f"campaign {batch.campaign_id} does not exist", non_retryable=True)
    variants: list[dict[str, Any]] = (campaign.ab_test or {}).get("variants") or []
    rows = session.execute(
        select(
            CampaignRecipient.position,
            CampaignRecipient.contact_id,
            CampaignRecipient.list_id,
            CampaignRecipient.variant,
        )
        .where(
            CampaignRecipient.campaign_id == batch.campaign_id,
            CampaignRecipient.position >= batch.first,
            CampaignRecipient.position < batch.end,
            CampaignRecipient.status == RecipientStatus.PENDING,
        )
        .order_by(CampaignRecipient.position)
    ).all()
    requests = []
    for position, contact_id, list_id, variant in rows:
        # Outside the A/B sample a recipient gets the winner (or the campaign itself, without a test).
        chosen = variant if variant is not None else campaign.winner
        change = variants[chosen] if chosen is not None and chosen < len(variants) else {}
        request = SendRequest(
            key=campaign_message_key(campaign.id, contact_id),
            template_id=change.get("template_id") or campaign.template_id,
            subject=change.get("subject"),
            contact_id=contact_id,
            kind=TemplateKind.MARKETING,
            list_id=list_id,
            from_email=change.get("from_email") or campaign.from_email,
            tag=f"campaign-{campaign.id}",
        )
        requests.append((position, request))
    return requests


class CampaignSendActivities:
    """The campaign batch activity; built once per email worker around the send pipeline."""

    def __init__(self, *, sessions: sessionmaker[Session], pipeline: SendPipeline) -> None:
        self._sessions = sessions
        self._readers = readers(sessions)
        self._pipeline = pipeline

    @activity.defn(name="send_campaign_batch")
    def send_campaign_batch(self, batch: CampaignBatch) -> BatchCounts:
        """Send the batch's pending recipients in one provider call and record each outcome.

        Exactly once per recipient: each has one message key, so a retry (after a crash, a
        timeout, a Postmark failure) answers what the ledger already has and sends only the
        rest. Counts are read back over the whole batch, so a retry counts what an earlier
        attempt finished too. With `batch.give_up` set (the batch failed for a day), the keys
        are closed instead: sent if Postmark has them, else failed. It heartbeats all along, so
        Temporal retries a batch whose worker died within the heartbeat timeout.
        """
        with heartbeating():
            return self._send(batch)

    def _send(self, batch: CampaignBatch) -> BatchCounts:
        with self._readers() as session:
            pending = _requests(session, batch)
        if pending:
            requests = [request for _, request in pending]
            try:
                if batch.give_up is None:
                    results = self._pipeline.send_batch(requests)
                else:
                    results = self._pipeline.give_up_batch(requests, why=batch.give_up)
            except SendDeferred as deferred:
                raise retry_error(deferred) from deferred
            with transaction(self._sessions) as session:
                session.execute(
                    _RECORD_OUTCOME,
                    [
                        {
                            "recipient_campaign_id": batch.campaign_id,
                            "recipient_position": position,
                            "recipient_status": _RECIPIENT_STATUS[result.status],
                            "recipient_message_id": result.message_id,
                            "recipient_reason": result.reason,
                        }
                        for (position, _), result in zip(pending, results, strict=True)
                    ],
                )
        return self._counts(batch)

    def _counts(self, batch: CampaignBatch) -> BatchCounts:
        with self._readers() as session:
            by_status = dict(
                session.execute(
                    select(CampaignRecipient.status, func.count())
                    .where(
                        CampaignRecipient.campaign_id == batch.campaign_id,
                        CampaignRecipient.position >= batch.first,
                        CampaignRecipient.position < batch.end,
                    )
                    .group_by(CampaignRecipient.status)
                ).all()
            )
        return BatchCounts(
            sent=by_status.get(RecipientStatus.SENT, 0),
            suppressed=by_status.get(RecipientStatus.SUPPRESSED, 0),
            failed=by_status.get(RecipientStatus.FAILED, 0),
        )
