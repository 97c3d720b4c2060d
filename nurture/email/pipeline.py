"""The send pipeline: render, check eligibility, reserve the key, send, record; at most once per key.

Postmark has no idempotency key, so the ledger is the lock. A key is reserved (status
`sending`, with the rendered email) and committed before the provider is called, and only the
attempt holding the key's lease may call the provider. A later attempt that finds the key
still `sending` does not know whether the provider accepted it, so it asks first (Postmark's
outbound search on the key in Metadata), after a delay that lets Postmark's search catch up,
and sends again only if the provider has no such message and the contact may still get it.

One email or a batch of up to 500 take the same steps (nurture/email/batch.py); a batch does
each step's database work for all its keys at once and sends in one provider call.
"""

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from nurture.email.batch import BatchSender, Tally
from nurture.email.outgoing import EmailProvider, NotSent, OutcomeUnknown, ProviderError
from nurture.observability.send_counter import SendCounter
from nurture.schemas.email import MAX_BATCH, SendRequest, SendResult
from nurture.settings import Settings

# Time for database work around the provider calls an attempt's lease covers.
LEASE_MARGIN = timedelta(seconds=15)


class SendDeferred(Exception):
    """Not finished for now (provider failure, another attempt in flight); retry later.

    `retry_at`: when a retry can take every key left, if they are held back until a known time
    (another attempt's lease, the provider's search catching up); None: retry when you will.
    """

    def __init__(self, error: ProviderError, *, retry_at: datetime | None = None) -> None:
        super().__init__(error.reason)
        self.error = error
        self.retry_at = retry_at


class SendPipeline:
    """Sends email at most once per message key through one provider; built once per worker."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        provider: EmailProvider,
        counter: SendCounter | None = None,
    ) -> None:
        """`counter` counts the emails each attempt finishes (the worker's metrics)."""
        # A lease covers a search and a send, each as long as the provider's timeouts let it be.
        call = timedelta(seconds=provider.max_call_seconds) + LEASE_MARGIN
        lease = timedelta(seconds=2 * provider.max_call_seconds) + LEASE_MARGIN
        self._batch = BatchSender(
            sessions=sessions, settings=settings, provider=provider, lease=lease, call=call, counter=counter
        )

    def send(self, request: SendRequest) -> SendResult:
        """Send the email for this request once; raises SendDeferred when a retry should follow."""
        [result] = _results(self._batch.send([request], single=True), [request])
        return result

    def send_batch(self, requests: list[SendRequest]) -> list[SendResult]:
        """Send each request's email once, all in one provider call; results in request order.

        Keys already final answer from the ledger, and a repeated key is one email. When some
        keys are left unfinished (a provider failure, another attempt in flight), what did finish
        is recorded and SendDeferred is raised: a retry with the same requests finishes the rest.

        Raises:
            SendDeferred: some keys are not finished; retry later.
            ValueError: more than MAX_BATCH requests.
        """
        if len(requests) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} emails go in one batch, not {len(requests)}")
        if not requests:
            return []
        return _results(self._batch.send(requests), requests)

    def give_up(self, request: SendRequest, *, why: str) -> SendResult:
        """Close a key that will not be retried any more: sent if the provider has it, else failed."""
        [result] = self.give_up_batch([request], why=why)
        return result

    def give_up_batch(self, requests: list[SendRequest], *, why: str) -> list[SendResult]:
        """Close keys that will not be retried any more, like `give_up`; results in request order.

        Raises:
            SendDeferred: some keys are in flight, or the provider could not be asked about them.
        """
        if not requests:
            return []
        return _results(self._batch.give_up(requests, why=why), requests)


def _results(tally: Tally, requests: list[SendRequest]) -> list[SendResult]:
    """Each request's result, or SendDeferred naming what is left to do."""
    if tally.unfinished:
        raise SendDeferred(_summary(tally.unfinished, requests), retry_at=tally.retry_at())
    return [tally.done[request.key] for request in requests]


def _summary(unfinished: dict[str, ProviderError], requests: list[SendRequest]) -> ProviderError:
    """One error for the keys left unfinished: the key's own when there is one, else a count and the first."""
    if len(unfinished) == 1:
        return next(iter(unfinished.values()))
    keys = [r.key for r in requests if r.key in unfinished]
    first = unfinished[keys[0]]
    total = len({r.key for r in requests})
    reason = f"{len(unfinished)} of {total} emails not finished; {keys[0]}: {first.reason}"
    # A retry of a key the provider may have taken reconciles first: say so if any is such a key.
    unknown = any(isinstance(error, OutcomeUnknown) for error in unfinished.values())
    return OutcomeUnknown(reason) if unknown else NotSent(reason)
