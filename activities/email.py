"""EmailActivities: the send pipeline as a Temporal activity on the email task queue."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from nurture.email.outgoing import OutcomeUnknown
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.schemas.email import SendRequest, SendResult


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
            kind = "OutcomeUnknown" if isinstance(deferred.error, OutcomeUnknown) else "NotSent"
            raise ApplicationError(deferred.error.reason, type=kind) from deferred
