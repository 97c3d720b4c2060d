"""A campaign's audience: the lists it goes to, with the tags and lists that narrow it.

Pure pydantic: the API validates with it and the campaign workflow carries it through the sandbox.
"""

from pydantic import BaseModel, ConfigDict, Field


class CampaignAudience(BaseModel):
    """Subscribers of any of `lists`, minus subscribers of `exclude_lists`; with every one of
    `tags` and none of `exclude_tags`. Only active, unsuppressed contacts count, once each."""

    model_config = ConfigDict(extra="forbid")

    lists: list[int] = Field(min_length=1, max_length=50)
    exclude_lists: list[int] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=20)
    exclude_tags: list[str] = Field(default_factory=list, max_length=20)
