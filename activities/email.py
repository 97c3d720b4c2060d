"""EmailActivities: the send pipeline as a Temporal activity on the email task queue."""

from temporalio import activity

from activities.deferral import retry_error
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.schemas.email import (
    BatchGiveUp,
    BatchSendRequest,
    BatchSendResult,
    GiveUp,
    SendRequest,
    SendResult,
)


class EmailActivities:
    """Activities that send email; built once per worker around one pipeline."""

    def __init__(self, pipeline: SendPipeline) -> None:
        self._pipeline = pipeline

    @activity.defn(name="send_email")
    def send_email(self, request: SendRequest) -> SendResult:
        """Send one email at most once per key: sent, suppressed or failed, each with why.

        Sync on purpose: postmarker is blocking, so it runs on the worker's thread pool.
        Transient provider failures raise a retryable error; the retry reconciles first.
        """
        try:
            return self._pipeline.send(request)
        except SendDeferred as deferred:
            raise retry_error(deferred) from deferred

    @activity.defn(name="send_email_batch")
    def send_email_batch(self, input: BatchSendRequest) -> BatchSendResult:
        """Send up to 500 emails in one provider call, each at most once per key; results in order.

        Sync, like send_email. When some keys are left unfinished, what finished is recorded and
        a retryable error is raised: the retry answers finished keys from the ledger and sends
        only the rest, after reconciling any the provider may already have.
        """
        try:
            return BatchSendResult(results=self._pipeline.send_batch(input.requests))
        except SendDeferred as deferred:
            raise retry_error(deferred) from deferred

    @activity.defn(name="give_up_send_batch")
    def give_up_send_batch(self, input: BatchGiveUp) -> BatchSendResult:
        """Close keys whose sending was abandoned, like give_up_send; results in order."""
        try:
            return BatchSendResult(results=self._pipeline.give_up_batch(input.requests, why=input.why))
        except SendDeferred as deferred:
            raise retry_error(deferred) from deferred

    @activity.defn(name="give_up_send")
    def give_up_send(self, input: GiveUp) -> SendResult:
        """Close a key whose sending was abandoned: sent if the provider has it, else failed.

        Without this a key would stay `sending` for ever and could never be sent again.
        """
        try:
            return self._pipeline.give_up(input.request, why=input.why)
        except SendDeferred as deferred:
            raise retry_error(deferred) from deferred
