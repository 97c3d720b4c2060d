"""Task queue names: one for workflows and general activities, one for email sends."""

MAIN = "nurture"
# Email sends get their own queue so provider rate limits are enforced in one place.
EMAIL = "nurture-email"
