"""PostmarkProvider.send_batch against the local Postmark server: one result per email, in order,
each classified on its own; a failed call raises for all of them."""

import pytest

from nurture.email.outgoing import NotSent, OutcomeUnknown, OutgoingEmail, RecipientInactive, Rejected
from nurture.email.postmark import PostmarkProvider
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY


def _provider(server: RunningServer, *, timeout: float = 5) -> PostmarkProvider:
    return PostmarkProvider(server_token=server.server_token, api_url=server.url + "/", timeout=timeout)


def _email(n: int, **changes: object) -> OutgoingEmail:
    fields: dict = {
        "key": f"batch:{n}",
        "from_email": "Nurture <hello@example.com>",
        "to": f"reader{n}@example.com",
        "subject": f"Issue {n}",
        "html": f"<p>Issue {n}</p>",
        "text": f"Issue {n}",
        "stream": "broadcast",
        "tag": "newsletter",
        "headers": {"X-Issue": str(n)},
    }
    return OutgoingEmail(**{**fields, **changes})


def test_a_batch_returns_each_message_id_in_order_with_the_key_in_metadata(
    postmark_server: RunningServer,
) -> None:
    emails = [_email(n) for n in range(3)]
    ids = _provider(postmark_server).send_batch(emails)

    for email, message_id in zip(emails, ids, strict=True):
        [kept] = postmark_server.messages(**{f"metadata_{METADATA_KEY}": email.key})
        assert kept["MessageID"] == message_id
        assert kept["Subject"] == email.subject and kept["Tag"] == "newsletter"
        assert kept["MessageStream"] == "broadcast" and kept["TrackLinks"] == "None"
        assert kept["Headers"] == [{"Name": "X-Issue", "Value": email.headers["X-Issue"]}]


@pytest.mark.parametrize("reason", ["HardBounce", "SpamComplaint", "ManualSuppression"])
def test_an_inactive_recipient_gets_its_own_error_with_postmarks_reason(
    postmark_server: RunningServer, reason: str
) -> None:
    postmark_server.state.store.suppress(
        "broadcast", "reader1@example.com", reason=reason, origin="Recipient"
    )
    first, inactive, last = _provider(postmark_server).send_batch([_email(n) for n in range(3)])

    assert isinstance(first, str) and isinstance(last, str)
    assert isinstance(inactive, RecipientInactive) and inactive.code == 406 and inactive.why == reason
    assert inactive.reason.startswith("Postmark: [406]") and "reader1@example.com" in inactive.reason
    assert len(postmark_server.messages()) == 2


def test_an_invalid_message_is_rejected_alone(postmark_server: RunningServer) -> None:
    good, bad = _provider(postmark_server).send_batch([_email(0), _email(1, to="not-an-address")])
    assert isinstance(good, str)
    assert isinstance(bad, Rejected) and bad.code == 300 and bad.reason.startswith("Postmark: [300]")


@pytest.mark.parametrize(
    ("fault", "error"),
    [("429", NotSent), ("503", NotSent), ("500", OutcomeUnknown), ("accept_then_500", OutcomeUnknown)],
)
def test_a_failed_call_raises_one_error_for_the_whole_batch(
    postmark_server: RunningServer, fault: str, error: type[Exception]
) -> None:
    postmark_server.add_fault(fault, path="/email/batch")  # type: ignore[arg-type]
    with pytest.raises(error):
        _provider(postmark_server).send_batch([_email(n) for n in range(3)])
    accepted = 3 if fault == "accept_then_500" else 0
    assert len(postmark_server.messages()) == accepted


def test_a_timeout_after_acceptance_is_an_unknown_outcome(postmark_server: RunningServer) -> None:
    postmark_server.add_fault("accept_then_hang", seconds=3)
    with pytest.raises(OutcomeUnknown):
        _provider(postmark_server, timeout=0.5).send_batch([_email(0), _email(1)])
    assert len(postmark_server.messages()) == 2


def test_a_refused_connection_is_not_sent() -> None:
    provider = PostmarkProvider(server_token="t", api_url="http://127.0.0.1:9/", timeout=1)
    with pytest.raises(NotSent):
        provider.send_batch([_email(0)])


def test_more_than_500_is_refused_and_none_is_no_call(postmark_server: RunningServer) -> None:
    provider = _provider(postmark_server)
    with pytest.raises(ValueError, match="at most 500"):
        provider.send_batch([_email(n) for n in range(501)])
    assert provider.send_batch([]) == []
    assert postmark_server.messages() == []
