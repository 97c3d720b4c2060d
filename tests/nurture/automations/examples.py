"""Definitions a marketer would write, shared by the automation tests (template and list ids are given)."""

from typing import Any


def nurture(
    *, welcome: int = 1, reminder: int = 2, tips: int = 3, last_call: int = 4, newsletter: int = 1
) -> dict[str, Any]:
    """The 14-day nurture: welcome, wait 2 days, branch on open, reminder or tips, wait for a click on
    pricing (3 days), then a last call; a purchase is the goal from anywhere."""
    pricing = "https://example.com/pricing"
    return {
        "triggers": [{"type": "list_subscribed", "list_id": newsletter}],
        "exits": [{"type": "unsubscribed"}],
        "steps": [
            {"id": "welcome", "type": "send_email", "template_id": welcome, "list_id": newsletter},
            {"id": "wait-2d", "type": "wait", "duration": "2d"},
            {
                "id": "opened-welcome",
                "type": "if",
                "condition": {"type": "email", "step": "welcome", "did": "opened", "within": "2d"},
                "then": "tips",
                "else": "reminder",
            },
            {"id": "reminder", "type": "send_email", "template_id": reminder, "next": "wait-pricing"},
            {"id": "tips", "type": "send_email", "template_id": tips},
            {
                "id": "wait-pricing",
                "type": "wait_for",
                "condition": {
                    "type": "any",
                    "conditions": [
                        {"type": "email", "step": "reminder", "did": "clicked", "link": pricing},
                        {"type": "email", "step": "tips", "did": "clicked", "link": pricing},
                    ],
                },
                "timeout": "3d",
                "on_timeout": "last-call",
                "next": "hot-lead",
            },
            {"id": "hot-lead", "type": "tag", "add": ["hot lead"], "next": "wait-9d"},
            {"id": "last-call", "type": "send_email", "template_id": last_call},
            {"id": "wait-9d", "type": "wait", "duration": "9d"},
            {"id": "done", "type": "end"},
            {
                "id": "purchased",
                "type": "goal",
                "name": "Bought a plan",
                "condition": {"type": "event", "name": "purchase"},
                "if_unmet": "end",
            },
        ],
    }


def cart_abandonment(*, reminder: int = 1) -> dict[str, Any]:
    """One run per cart: wait an hour, remind unless the cart was bought, stop at checkout."""
    return {
        "triggers": [{"type": "event", "name": "cart_abandoned"}],
        "entry": {"mode": "per_value", "property": "cart_id"},
        "exits": [{"type": "event", "name": "checkout_completed"}],
        "steps": [
            {"id": "wait-1h", "type": "wait", "duration": "1h"},
            {"id": "remind", "type": "send_email", "template_id": reminder, "kind": "transactional"},
            {
                "id": "bought",
                "type": "wait_for",
                "condition": {"type": "event", "name": "checkout_completed", "within": "1d"},
                "timeout": "1d",
                "on_timeout": "give-up",
            },
            {"id": "thanks", "type": "tag", "add": ["customer"], "next": "done"},
            {"id": "give-up", "type": "tag", "add": ["abandoned cart"]},
            {"id": "done", "type": "end"},
        ],
    }
