"""Telling a person's reply from one a machine wrote."""

import pytest

from nurture.email.inbound import InboundEmail, automatic_reason


@pytest.mark.parametrize(
    ("headers", "subject", "why"),
    [
        ({"auto-submitted": "auto-replied"}, "Re: our call", "Auto-Submitted: auto-replied"),
        ({"auto-submitted": "auto-generated"}, "Re: our call", "Auto-Submitted: auto-generated"),
        ({"x-autoreply": "yes"}, "Re: our call", "x-autoreply header"),
        ({"precedence": "bulk"}, "Re: our call", "Precedence: bulk"),
        ({"return-path": "<>"}, "Delivery Status Notification", "empty Return-Path (a delivery report)"),
        ({}, "Automatic reply: our call", "an auto-reply subject"),
        ({}, "Out of Office: back Monday", "an auto-reply subject"),
    ],
)
def test_machine_written_replies_are_recognised(headers: dict[str, str], subject: str, why: str) -> None:
    assert automatic_reason(headers, subject=subject) == why


def test_a_person_s_reply_is_not_automatic() -> None:
    reply = InboundEmail(
        from_email="ada@example.com",
        subject="Re: Out of office plans for the team",
        text="Sounds good, see you Monday.",
        headers={"auto-submitted": "no", "precedence": "normal", "return-path": "<ada@example.com>"},
    )
    assert reply.automatic is None
