"""Forged, altered and misused open, click and unsubscribe tokens: a 404, nothing recorded, and no
redirect anywhere but to the link the email held."""

import base64
import struct
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from nurture.settings import Settings
from nurture.tracking.tokens import MAC_BYTES, Purpose, parse_keys, sign, signing_keys
from tests.api.abuse.rows import row_counts
from tests.api.test_unsubscribe import _message

OFFER = "https://shop.example/offer?x=1"
OTHER = "https://shop.example/other"
EVIL = "https://evil.example/phish"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Sent:
    """Two emails to one contact on one list: the first with two links, the second with one."""

    contact_id: int
    list_id: int
    first: int
    second: int


@pytest.fixture
def sent(api: TestClient, settings: Settings) -> Sent:
    contact = api.post("/contacts", json={"email": "ann@example.com"})
    assert contact.status_code == 201, contact.text
    news = api.post("/lists", json={"name": "News"})
    assert news.status_code == 201, news.text
    contact_id, list_id = contact.json()["id"], news.json()["id"]
    assert api.post(f"/lists/{list_id}/subscriptions", json={"contact_id": contact_id}).status_code == 201
    first = _message(settings, contact_id=contact_id, list_id=list_id, key="m-1", urls=[OFFER, OTHER])
    second = _message(settings, contact_id=contact_id, list_id=list_id, key="m-2", urls=[EVIL])
    return Sent(contact_id=contact_id, list_id=list_id, first=first, second=second)


def _token(settings: Settings, purpose: Purpose, message_id: int, position: int = 0) -> str:
    return sign(purpose, message_id=message_id, position=position, keys=signing_keys(settings))


def _raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _altered(token: str, *, message_id: int | None = None, position: int | None = None) -> str:
    """The token with its message id or link position changed and its signature kept."""
    raw = _raw(token)
    ids = 2 + raw[1] + 1  # version, kid length, kid, purpose: then the message id and position
    if message_id is not None:
        raw[ids : ids + 8] = struct.pack(">Q", message_id)
    if position is not None:
        raw[ids + 8 : ids + 12] = struct.pack(">I", position)
    return _encode(bytes(raw))


def _forgeries(settings: Settings, purpose: Purpose, sent: Sent) -> dict[str, str]:
    """Every way this suite forges a token of `purpose` for the first email, by name."""
    valid = _token(settings, purpose, sent.first)
    raw = _raw(valid)
    flipped = bytearray(raw)
    flipped[-1] ^= 0x01
    others: list[Purpose] = [p for p in ("open", "click", "unsubscribe", "reply") if p != purpose]
    forged = {
        "tampered signature": _encode(bytes(flipped)),
        "signature of zeros": _encode(bytes(raw[:-MAC_BYTES]) + bytes(MAC_BYTES)),
        "no signature": _encode(bytes(raw[:-MAC_BYTES])),
        "altered to another message": _altered(valid, message_id=sent.second),
        "altered to a message that does not exist": _altered(valid, message_id=10**6),
        "signed with another secret": sign(
            purpose, message_id=sent.first, keys=parse_keys("0:someone-elses-secret", secret_key="x")
        ),
        "signed with an unknown key id": sign(
            purpose, message_id=sent.first, keys=parse_keys("evil:attacker-secret", secret_key="x")
        ),
        "signed for a message that does not exist": _token(settings, purpose, 10**6),
        "truncated by one character": valid[:-1],
        "truncated by a block": valid[:-4],
        "truncated to half": valid[: len(valid) // 2],
        "extended by a character": valid + "A",
        "extended by a block": valid + "AAAA",
        "padded": valid + "=",
        "standard base64's alphabet": valid[:5] + "+" + valid[6:],
        # The same bytes, spelled with a spare bit of the last character set.
        "not the canonical spelling": valid[:-1] + ALPHABET[ALPHABET.index(valid[-1]) ^ 0x01],
        "with a dot": valid[:10] + "." + valid[11:],
        "non-ASCII": valid[:-1] + "é",
        "with a NUL": valid[:-1] + "\x00",
        "with a space": valid[:-1] + " ",
        "over the maximum length": "A" * 300,
        "empty-looking": "-",
        "markup": '"><img src=x onerror=alert(1)>',
    }
    for other in others:
        forged[f"a {other} token"] = _token(settings, other, sent.first)
    return forged


def _path(template: str, token: str) -> str:
    return template.format(token=quote(token, safe=""))


def _standing(api: TestClient, contact_id: int) -> tuple[str, dict[int, str]]:
    contact = api.get(f"/contacts/{contact_id}").json()
    return contact["status"], {s["list_id"]: s["status"] for s in contact["lists"]}


@pytest.mark.parametrize(
    ("purpose", "method", "template"),
    [
        ("open", "GET", "/t/o/{token}.gif"),
        ("open", "HEAD", "/t/o/{token}.gif"),
        ("click", "GET", "/t/c/{token}"),
        ("click", "HEAD", "/t/c/{token}"),
    ],
)
def test_a_forged_tracking_token_is_404_and_records_nothing(
    anonymous: TestClient, settings: Settings, sent: Sent, purpose: Purpose, method: str, template: str
) -> None:
    before = row_counts(settings)
    for name, token in _forgeries(settings, purpose, sent).items():
        response = anonymous.request(method, _path(template, token), follow_redirects=False)
        assert response.status_code == 404, (name, response.status_code)
        assert "location" not in response.headers, name
        if method == "GET":
            assert response.headers["content-type"] == "application/problem+json", name
            # One answer for every forgery: nothing to learn from probing, nothing echoed back.
            assert response.json()["detail"] == "This tracking link is not valid", name
    assert row_counts(settings) == before


def test_a_click_token_pointed_at_another_link_or_url_redirects_nowhere_else(
    anonymous: TestClient, settings: Settings, sent: Sent
) -> None:
    before = row_counts(settings)
    valid = _token(settings, "click", sent.first, position=0)
    swapped = {
        "position of the other link": _altered(valid, position=1),
        "position past the last link": _altered(valid, position=7),
        "the other email's link": _altered(valid, message_id=sent.second),
    }
    for name, token in swapped.items():
        response = anonymous.get(f"/t/c/{token}", follow_redirects=False)
        assert (response.status_code, response.headers.get("location")) == (404, None), name
    # Where the target could be smuggled into the path instead of the token.
    for path in (
        f"/t/c/{valid}/{EVIL}",
        f"/t/c/{valid}{quote('//evil.example/phish', safe='')}",
        f"/t/c/{valid}@evil.example",
        f"/t/c/{quote(EVIL, safe='')}",
        f"/t/c/{valid}%0d%0aLocation:%20{quote(EVIL, safe='')}",
    ):
        response = anonymous.get(path, follow_redirects=False)
        assert (response.status_code, response.headers.get("location")) == (404, None), path
    assert row_counts(settings) == before


def test_a_valid_click_goes_to_its_own_link_whatever_the_request_says(
    anonymous: TestClient, settings: Settings, sent: Sent
) -> None:
    valid = _token(settings, "click", sent.first, position=1)
    for extra in (
        {"params": {"url": EVIL, "next": EVIL, "redirect": EVIL, "to": EVIL}},
        {"headers": {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Referer": EVIL}},
    ):
        response = anonymous.get(f"/t/c/{valid}", follow_redirects=False, **extra)  # type: ignore[arg-type]
        assert response.status_code == 302
        assert response.headers["location"] == OTHER
    # The clicks were real, so they count: the setup records what it should.
    assert row_counts(settings)["message_events"] == 2


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_a_forged_unsubscribe_token_shows_404_and_unsubscribes_no_one(
    api: TestClient, anonymous: TestClient, settings: Settings, sent: Sent, method: str
) -> None:
    before, standing = row_counts(settings), _standing(api, sent.contact_id)
    forms = (
        [{"List-Unsubscribe": "One-Click"}, {"scope": "all"}, {"scope": "list"}]
        if method == "POST"
        else [None]
    )
    for name, token in _forgeries(settings, "unsubscribe", sent).items():
        for form in forms:
            response = anonymous.request(method, _path("/u/{token}", token), data=form)
            assert response.status_code == 404, (name, form)
            if method != "HEAD":
                assert "This unsubscribe link is not valid" in response.text, name
                assert "<img" not in response.text and "ann@example.com" not in response.text, name
    assert _standing(api, sent.contact_id) == standing == ("active", {sent.list_id: "subscribed"})
    assert row_counts(settings) == before


def test_the_real_unsubscribe_token_still_works(
    api: TestClient, anonymous: TestClient, settings: Settings, sent: Sent
) -> None:
    # The other side of the test above: the setup can be unsubscribed, by the one real link.
    token = _token(settings, "unsubscribe", sent.first)
    response = anonymous.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert _standing(api, sent.contact_id) == ("active", {sent.list_id: "unsubscribed"})
