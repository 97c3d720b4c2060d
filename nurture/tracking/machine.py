"""Tell opens and clicks made by machines (privacy proxies, link scanners) from people's.

Heuristics after Mautic's bot ratio and the published signals for Apple Mail Privacy
Protection and Gmail's image proxy (../shared/research/postmark.md, section 7.3). A flagged
event is still recorded; it is counted apart and automations can ignore it.
"""

import ipaddress
from typing import Literal

# Substrings of user agents that only machines send.
MACHINE_AGENTS = (
    "GoogleImageProxy",
    "YahooMailProxy",
    "Googlebot",
    "bingbot",
    "Google Web Preview",
    "facebookexternalhit",
    "Slackbot",
    "Twitterbot",
    "LinkedInBot",
    "python-requests",
    "curl/",
    "Wget",
    "Barracuda",
    "Mimecast",
    "Proofpoint",
    "Symantec",
    "Trend Micro",
    "SafeLinks",
    "BingPreview",
    "HeadlessChrome",
)
# Apple's network: Mail Privacy Protection fetches every image from here at delivery.
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
# A person cannot open or click this soon after the email left; a scanner at delivery can.
TOO_SOON_SECONDS = 2.0


def machine_reason(
    *,
    kind: Literal["open", "click"],
    user_agent: str | None,
    ip: str | None = None,
    seconds_since_sent: float | None = None,
) -> str | None:
    """Why this open or click looks machine-made, or None if it looks like a person."""
    agent = (user_agent or "").strip()
    if not agent:
        return "no user agent"
    for marker in MACHINE_AGENTS:
        if marker.lower() in agent.lower():
            return f"user agent {marker}"
    if kind == "open" and ip:
        try:
            if ipaddress.ip_address(ip) in APPLE_NETWORK:
                return "Apple Mail Privacy Protection"
        except ValueError:
            pass
    # Apple's proxy sends a bare "Mozilla/5.0" with nothing after it.
    if kind == "open" and agent == "Mozilla/5.0":
        return "Apple Mail Privacy Protection"
    if seconds_since_sent is not None and seconds_since_sent < TOO_SOON_SECONDS:
        return f"{kind} within {TOO_SOON_SECONDS:g} s of sending"
    return None
