"""A send left unfinished asks Temporal to retry when its keys are free, if that time is known."""

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deferral import policy_interval
from activities.email import EmailActivities
from nurture.postmark_server import RunningServer
from nurture.schemas.email import BatchSendRequest
from nurture.settings import Settings
from tests.isolated import isolated
from tests.nurture.email.sending import pipeline_for, receipts


def _batch(prefix: str) -> BatchSendRequest:
    return BatchSendRequest(requests=receipts(prefix, 3))


def _environment(*, attempt: int = 1) -> ActivityEnvironment:
    """An activity's environment on its `attempt`, with the retry policy a server hands a worker."""
    environment = ActivityEnvironment()
    policy = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=10))
    environment.info = dataclasses.replace(environment.info, attempt=attempt, retry_policy=policy)
    return environment


def _retry_of(
    activities: EmailActivities, batch: BatchSendRequest, *, environment: ActivityEnvironment | None = None
) -> ApplicationError:
    with pytest.raises(ApplicationError) as retry:
        (environment or _environment()).run(activities.send_email_batch, batch)
    assert not retry.value.non_retryable
    return retry.value


def test_keys_held_for_the_search_are_retried_when_the_hold_ends(
    settings: Settings, postmark_server: RunningServer
) -> None:
    # The answer is lost: Postmark's search may lag 30 s behind, so the keys wait that long.
    settings = isolated(settings, postmark_server, reconcile_delay=30.0)
    activities = EmailActivities(pipeline_for(settings))
    postmark_server.add_fault("accept_then_500")
    retry = _retry_of(activities, _batch("receipt:lost"))
    assert retry.type == "OutcomeUnknown"
    assert retry.next_retry_delay is not None
    assert timedelta(seconds=28) < retry.next_retry_delay <= timedelta(seconds=31)


def test_a_postmark_that_keeps_failing_is_retried_ever_less_often(
    settings: Settings, postmark_server: RunningServer
) -> None:
    # The 8th attempt: the policy's interval (2 minutes 8 s) is past the 30 s hold.
    settings = isolated(settings, postmark_server, reconcile_delay=30.0)
    postmark_server.add_fault("accept_then_500")
    retry = _retry_of(
        EmailActivities(pipeline_for(settings)), _batch("receipt:again"), environment=_environment(attempt=8)
    )
    assert retry.next_retry_delay == timedelta(seconds=128)


def test_the_policy_interval_is_temporals() -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=3.0)
    assert [policy_interval(policy, attempt).total_seconds() for attempt in (1, 2, 3, 5)] == [2, 6, 18, 162]
    assert policy_interval(policy, 6) == timedelta(seconds=200)  # 100 times the first, by default
    capped = RetryPolicy(maximum_interval=timedelta(minutes=10))
    assert policy_interval(capped, 10_000) == timedelta(minutes=10)


def test_without_the_policy_the_retry_is_left_to_it(
    settings: Settings, postmark_server: RunningServer
) -> None:
    # The time-skipping test server sends no policy: a delay shorter than its interval would
    # retry more often than it asks.
    settings = isolated(settings, postmark_server, reconcile_delay=30.0)
    postmark_server.add_fault("accept_then_500")
    activities = EmailActivities(pipeline_for(settings))
    retry = _retry_of(activities, _batch("receipt:no-policy"), environment=ActivityEnvironment())
    assert retry.type == "OutcomeUnknown" and retry.next_retry_delay is None


def test_keys_another_attempt_holds_are_retried_when_its_lease_ends(
    settings: Settings, postmark_server: RunningServer
) -> None:
    settings = isolated(settings, postmark_server)
    batch = _batch("receipt:overlap")
    postmark_server.add_fault("delay", seconds=2)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(pipeline_for(settings).send_batch, batch.requests)
        time.sleep(0.5)
        retry = _retry_of(EmailActivities(pipeline_for(settings, timeout=10)), batch)
        first.result(timeout=10)
    assert retry.type == "NotSent" and "in flight" in retry.message
    # The first attempt's lease: two 15 s calls at its 10 s timeout, and margins; about 45 s left.
    assert retry.next_retry_delay is not None
    assert timedelta(seconds=40) < retry.next_retry_delay < timedelta(seconds=47)


def test_a_provider_refusal_keeps_the_retry_policy(
    settings: Settings, postmark_server: RunningServer
) -> None:
    settings = isolated(settings, postmark_server)
    postmark_server.add_fault("503", path="/email/batch")
    retry = _retry_of(EmailActivities(pipeline_for(settings)), _batch("receipt:refused"))
    assert retry.type == "NotSent"
    assert retry.next_retry_delay is None
