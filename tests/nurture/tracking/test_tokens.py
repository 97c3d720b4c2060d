"""Tracking tokens: round trip, key rotation, tamper resistance, separate purposes, garbage refused."""

import base64

import pytest

from nurture.settings import Settings
from nurture.tracking.tokens import (
    MAC_BYTES,
    Slots,
    TokenClaims,
    parse_keys,
    sign,
    signing_keys,
    verify,
)

KEYS = parse_keys("new:second-secret-value,old:first-secret-value", secret_key="unused")


def test_round_trip_for_each_purpose() -> None:
    for purpose in ("open", "click", "unsubscribe"):
        token = sign(purpose, message_id=42, position=7, keys=KEYS)
        assert verify(purpose, token, keys=KEYS) == TokenClaims(
            purpose=purpose, message_id=42, position=7, kid="new"
        )
        # URL-safe as is: no padding, nothing a path segment would need to escape.
        assert token.replace("-", "").replace("_", "").isalnum()


def test_the_mac_is_at_least_twelve_bytes() -> None:
    raw = base64.urlsafe_b64decode(sign("click", message_id=1, keys=KEYS) + "==")
    assert MAC_BYTES >= 12 and len(raw) > MAC_BYTES


def test_rotation_old_key_verifies_while_listed_and_not_after() -> None:
    before = parse_keys("old:first-secret-value", secret_key="unused")
    token = sign("click", message_id=9, position=2, keys=before)
    # The new key signs; the old one still verifies links already in inboxes.
    rotated = parse_keys("new:second-secret-value,old:first-secret-value", secret_key="unused")
    claims = verify("click", token, keys=rotated)
    assert claims is not None and claims.kid == "old" and claims.position == 2
    assert verify("click", sign("click", message_id=9, keys=rotated), keys=rotated).kid == "new"  # type: ignore[union-attr]
    retired = parse_keys("new:second-secret-value", secret_key="unused")
    assert verify("click", token, keys=retired) is None


def test_same_kid_with_another_secret_does_not_verify() -> None:
    token = sign("open", message_id=5, keys=parse_keys("k:one-secret", secret_key="x"))
    assert verify("open", token, keys=parse_keys("k:another-secret", secret_key="x")) is None


def test_every_single_character_alteration_fails() -> None:
    token = sign("unsubscribe", message_id=123456, position=3, keys=KEYS)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, original in enumerate(token):
        for replacement in alphabet:
            if replacement != original:
                altered = token[:index] + replacement + token[index + 1 :]
                assert verify("unsubscribe", altered, keys=KEYS) is None, (index, replacement)


def test_every_single_byte_alteration_fails() -> None:
    token = sign("click", message_id=77, position=1, keys=KEYS)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF):
            altered = bytearray(raw)
            altered[index] ^= flip
            encoded = base64.urlsafe_b64encode(bytes(altered)).decode().rstrip("=")
            assert verify("click", encoded, keys=KEYS) is None, (index, flip)


def test_truncated_and_extended_tokens_fail() -> None:
    token = sign("open", message_id=8, keys=KEYS)
    for cut in range(len(token)):
        assert verify("open", token[:cut], keys=KEYS) is None
    assert verify("open", token + "A", keys=KEYS) is None
    assert verify("open", token + "AAAA", keys=KEYS) is None


def test_purposes_do_not_cross() -> None:
    for signed_as in ("open", "click", "unsubscribe"):
        token = sign(signed_as, message_id=3, keys=KEYS)
        for checked_as in ("open", "click", "unsubscribe"):
            if checked_as != signed_as:
                assert verify(checked_as, token, keys=KEYS) is None, (signed_as, checked_as)


def test_garbage_never_raises() -> None:
    for garbage in [
        "",
        "=",
        "a",
        "....",
        "é" * 40,
        "\x00" * 50,
        "A" * 10_000,
        "AQ",
        "AQEw",
        "%2F",
        "a b",
        "AAAA" * 9,
    ]:
        assert verify("click", garbage, keys=KEYS) is None
    assert verify("bogus", sign("click", message_id=1, keys=KEYS), keys=KEYS) is None  # type: ignore[arg-type]


def test_unknown_kid_fails() -> None:
    token = sign("open", message_id=1, keys=parse_keys("other:some-secret", secret_key="x"))
    assert verify("open", token, keys=KEYS) is None


def test_default_key_is_derived_from_secret_key_not_the_raw_secret() -> None:
    keys = signing_keys(Settings(secret_key="s3cret-value", tracking_keys=""))
    assert keys.signing_kid == "0"
    assert keys.secrets["0"] != b"s3cret-value" and len(keys.secrets["0"]) == 32
    token = sign("click", message_id=11, keys=keys)
    assert verify("click", token, keys=signing_keys(Settings(secret_key="s3cret-value"))) is not None
    assert verify("click", token, keys=signing_keys(Settings(secret_key="another-value"))) is None
    # Raw secret_key as a configured key does not verify it either.
    assert verify("click", token, keys=parse_keys("0:s3cret-value", secret_key="x")) is None


def test_links_signed_by_the_derived_key_keep_verifying_once_a_list_is_set() -> None:
    before = signing_keys(Settings(secret_key="s3cret-value", tracking_keys=""))
    token = sign("unsubscribe", message_id=12, keys=before)
    listed = signing_keys(Settings(secret_key="s3cret-value", tracking_keys="2027a:a-long-random-value"))
    assert listed.signing_kid == "2027a"
    assert verify("unsubscribe", token, keys=listed) == TokenClaims("unsubscribe", 12, 0, "0")
    # Unless the list gives kid 0 a secret of its own, or the secret key it came from changes.
    assert verify("unsubscribe", token, keys=parse_keys("0:own-value", secret_key="s3cret-value")) is None
    assert verify("unsubscribe", token, keys=parse_keys("2027a:x", secret_key="another-value")) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nocolon", "entry 1 must be 'kid:secret'"),
        ("a:one,b:", "entry 2 must be 'kid:secret'"),
        ("a:one,a:two", "key id 'a' appears twice"),
        ("bad kid:secret", "key id 'bad kid'"),
        (":secret", "key id ''"),
        ("a:one,,b:two", "entry 2 must be 'kid:secret'"),
    ],
)
def test_malformed_keys_are_refused_naming_the_entry(value: str, message: str) -> None:
    with pytest.raises(ValueError, match="NURTURE_TRACKING_KEYS") as error:
        signing_keys(Settings(tracking_keys=value))
    assert message in str(error.value)


def test_sign_refuses_ids_out_of_range() -> None:
    for message_id, position in [(0, 0), (-1, 0), (2**63, 0), (1, -1), (1, 2**32)]:
        with pytest.raises(ValueError):
            sign("click", message_id=message_id, position=position, keys=KEYS)


def test_slots_fill_signs_every_stand_in_for_the_message_and_leaves_the_rest() -> None:
    slots = Slots()
    click, pixel, leave = slots("click", 12), slots("open"), slots("unsubscribe")
    html = f'<a href="https://t.example/t/c/{click}">x</a> <img src="/t/o/{pixel}.gif"> {click}'
    headers = f"<https://t.example/u/{leave}>"
    filled_html, filled_header, plain = slots.fill([html, headers, "no links"], message_id=77, keys=KEYS)

    signed_click = sign("click", message_id=77, position=12, keys=KEYS)
    signed_pixel = sign("open", message_id=77, position=0, keys=KEYS)
    assert filled_html == (
        f'<a href="https://t.example/t/c/{signed_click}">x</a> '
        f'<img src="/t/o/{signed_pixel}.gif"> {signed_click}'
    )
    assert filled_header == f"<https://t.example/u/{sign('unsubscribe', message_id=77, keys=KEYS)}>"
    assert plain == "no links"
    assert verify("click", filled_html.split("/t/c/")[1].split('"')[0], keys=KEYS) == TokenClaims(
        purpose="click", message_id=77, position=12, kid="new"
    )


def test_slots_fill_leaves_what_only_looks_like_a_stand_in() -> None:
    slots = Slots()
    prefix = slots("open").removesuffix("1_0_")
    near_misses = [
        f"{prefix}",  # the prefix alone, at the end
        f"{prefix}5_0_",  # no such purpose
        f"{prefix}12_0_",  # a purpose code is one digit
        f"{prefix}2_x_",  # the position is a number
        f"{prefix}2_12345678901_",  # of at most ten digits
        f"{prefix}2_3",  # unfinished
        f"{Slots()('click', 1)}",  # another batch's stand-in
    ]
    for text in near_misses:
        assert slots.fill([f"before {text} after"], message_id=5, keys=KEYS) == [f"before {text} after"]
    # A near miss right before a real stand-in: the stand-in is still signed.
    text = f"{prefix}9_{slots('click', 2)}!"
    assert slots.fill([text], message_id=5, keys=KEYS) == [
        f"{prefix}9_{sign('click', message_id=5, position=2, keys=KEYS)}!"
    ]
