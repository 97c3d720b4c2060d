"""A campaign's audience: the lists it goes to, with the tags, lists and field conditions that narrow it.

Pure pydantic: the API validates with it and the campaign's activities read it from the row.
"""

from pydantic import BaseModel, ConfigDict, Field

from nurture.campaigns.conditions import FieldCondition


class CampaignAudience(BaseModel):
    """Subscribers of any of `lists`, minus subscribers of `exclude_lists`; with every one of
    `tags`, none of `exclude_tags`, and every field condition met. Only active, unsuppressed
    contacts count, once each."""

    model_config = ConfigDict(extra="forbid")

    lists: list[int] = Field(min_length=1, max_length=50)
    exclude_lists: list[int] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20)
    exclude_tags: list[str] = Field(default_factory=list, max_length=20)
    conditions: list[FieldCondition] = Field(default_factory=list, max_length=20)
