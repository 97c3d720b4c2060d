"""The custom search attributes every Nurture run carries, defined once.

The dev runner, the tests and docker-compose's admin job all register these;
values are ids and step names only, never personal data.
"""

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

KIND = SearchAttributeKey.for_keyword("NurtureKind")
AUTOMATION_ID = SearchAttributeKey.for_keyword("AutomationId")
CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
CONTACT_ID = SearchAttributeKey.for_keyword("ContactId")
CURRENT_STEP = SearchAttributeKey.for_keyword("CurrentStep")

ALL: list[SearchAttributeKey] = [KIND, AUTOMATION_ID, CAMPAIGN_ID, CONTACT_ID, CURRENT_STEP]


def cli_flags() -> list[str]:
    """`--search-attribute Name=Keyword` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags


def message_attributes(*, contact_id: int | None) -> TypedSearchAttributes:
    """The search attributes of a one-off send (`NurtureKind = 'message'`); no contact id for an
    email to an address that is no contact's (the address itself is personal data, never one)."""
    pairs: list[SearchAttributePair[str]] = [SearchAttributePair(KIND, "message")]
    if contact_id is not None:
        pairs.append(SearchAttributePair(CONTACT_ID, str(contact_id)))
    return TypedSearchAttributes(pairs)


def mailbox_attributes() -> TypedSearchAttributes:
    """The search attributes of a mailbox's sync (`NurtureKind = 'mailbox'`)."""
    return TypedSearchAttributes([SearchAttributePair(KIND, "mailbox")])
