"""Fault 6's stories: the webhooks Postmark posts about a message, and how Nurture must end in any order."""

from dataclasses import dataclass, field
from typing import Any

from nurture.db.models import ContactStatus, SuppressionReason

CLICKED = "https://example.com/pricing"


@dataclass(frozen=True)
class Event:
    """One webhook of a story: the event the local server fires, and changes to its payload."""

    kind: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Story:
    """What Postmark reports about one message, and what Nurture should end with, in any order."""

    name: str
    events: tuple[Event, ...]
    recorded: dict[str, int]
    status: ContactStatus
    suppression: SuppressionReason | None = None


def _subscription(reason: str, *, suppress: bool = True) -> Event:
    return Event("SubscriptionChange", {"SuppressionReason": reason, "SuppressSending": suppress})


DELIVERY = Event("Delivery")
STORIES = (
    Story("delivered", (DELIVERY,), {"delivered": 1}, ContactStatus.ACTIVE),
    Story(
        "opened twice and clicked",
        (DELIVERY, Event("Open"), Event("Open"), Event("Click", {"OriginalLink": CLICKED})),
        {"delivered": 1, "opened": 2, "clicked": 1},
        ContactStatus.ACTIVE,
    ),
    # Postmark reports a hard bounce twice: the Bounce, and the SubscriptionChange it causes.
    Story(
        "hard bounce",
        (DELIVERY, Event("Bounce"), _subscription("HardBounce")),
        {"delivered": 1, "bounced": 1},
        ContactStatus.BOUNCED,
        SuppressionReason.HARD_BOUNCE,
    ),
    Story(
        "spam complaint",
        (DELIVERY, Event("Open"), Event("SpamComplaint"), _subscription("SpamComplaint")),
        {"delivered": 1, "opened": 1, "complained": 1},
        ContactStatus.COMPLAINED,
        SuppressionReason.SPAM_COMPLAINT,
    ),
    Story(
        "unsubscribed at Postmark",
        (DELIVERY, _subscription("ManualSuppression")),
        {"delivered": 1, "unsubscribed": 1},
        ContactStatus.UNSUBSCRIBED,
    ),
)

# The address reactivated in Postmark after its hard bounce: nothing suppressed in the end, even
# when the reactivation overtakes the bounce or its SubscriptionChange (a retry hours later):
# Nurture keeps reactivations and compares their time with the bounce's. The full run tells it;
# the short one (CI) leaves it to tests/api/test_webhooks_order.py.
REACTIVATED = Story(
    "hard bounce, then reactivated",
    (
        DELIVERY,
        Event("Bounce"),
        _subscription("HardBounce"),
        # A reactivation carries no message: no MessageID, no Tag, empty Metadata.
        Event(
            "SubscriptionChange",
            {
                "SuppressionReason": "HardBounce",
                "SuppressSending": False,
                "MessageID": None,
                "Tag": None,
                "Metadata": {},
            },
        ),
    ),
    {"delivered": 1, "bounced": 1},
    ContactStatus.ACTIVE,
)


REACTIVATION_CHECK = "a reactivation overtaking its bounce still wins"
REACTIVATION_NOTE = (
    "A reactivation (SubscriptionChange with SuppressSending false) handled before the hard bounce "
    "it lifts is kept (nurture/email/postmark_reactivations.py) and compared with the bounce's "
    "BouncedAt and the SubscriptionChange's ChangedAt; this failing means that comparison broke."
)


def stories(short: bool) -> tuple[Story, ...]:
    """The stories a run tells."""
    return STORIES if short else (*STORIES, REACTIVATED)
