"""How an activity asks Temporal to retry a send left unfinished: not before its keys are free."""

from datetime import timedelta

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from nurture.db.base import utcnow
from nurture.email.outgoing import OutcomeUnknown
from nurture.email.pipeline import SendDeferred

# Past a hold's end, so the retry does not find the key held still.
MARGIN = timedelta(seconds=1)


def retry_error(deferred: SendDeferred) -> ApplicationError:
    """The retryable error for a deferred send (called in the activity).

    Keys held back until a known time (another attempt's lease, Postmark's search catching up)
    are retried at the later of that time and the retry policy's next interval: backing off
    from 1 s alone would try several times in vain and then wait up to twice too long, while
    the hold alone would retry a Postmark that keeps failing every minute for a day. Other
    failures leave the interval to the policy.
    """
    kind = "OutcomeUnknown" if isinstance(deferred.error, OutcomeUnknown) else "NotSent"
    delay = None
    info = activity.info()
    # Without the policy (the time-skipping test server does not send it) its interval is
    # unknown, and a delay shorter than it would retry too often: the policy decides alone.
    if deferred.retry_at is not None and info.retry_policy is not None:
        held = max(deferred.retry_at - utcnow(), timedelta(0)) + MARGIN
        delay = max(held, policy_interval(info.retry_policy, info.attempt))
    return ApplicationError(deferred.error.reason, type=kind, next_retry_delay=delay)


def policy_interval(policy: RetryPolicy, attempt: int) -> timedelta:
    """The interval Temporal would wait after this attempt fails, by its retry policy."""
    initial = policy.initial_interval.total_seconds()
    maximum = (policy.maximum_interval or policy.initial_interval * 100).total_seconds()
    # The exponent is capped: a day of retries would overflow a float, long past the maximum.
    return timedelta(seconds=min(initial * policy.backoff_coefficient ** min(attempt - 1, 64), maximum))
