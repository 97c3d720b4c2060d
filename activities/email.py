"""EmailActivities: the send pipeline as a Temporal activity on the email task queue."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from nurture.email.outgoing import OutcomeUnknown
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.schemas.email import GiveUp, SendRequest, SendResult


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
            raise _retry(deferred) from deferred

    @activity.defn(name="give_up_send")
    def give_up_send(self, input: GiveUp) -> SendResult:
        """Close a key whose sending was abandoned: sent if the provider has it, else failed.

        Without this a key would stay `sending` for ever and could never be sent again.
        """
        try:
            return self._pipeline.give_up(input.request, why=input.why)
        except SendDeferred as deferred:
            raise _retry(deferred) from deferred


def _retry(deferred: SendDeferred) -> ApplicationError:
    kind = "OutcomeUnknown" if isinstance(deferred.error, OutcomeUnknown) else "NotSent"
    return ApplicationError(deferred.error.reason, type=kind)
