"""Tag request and response models."""

from datetime import datetime

from nurture.db.models import Tag
from nurture.schemas.contacts import TagName
from nurture.schemas.fields import Input, Output


class TagCreate(Input):
    """A new tag."""

    name: TagName


class TagUpdate(Input):
    """A new name for a tag."""

    name: TagName


class TagPublic(Output):
    """A tag as the API returns it, with how many contacts carry it."""

    id: int
    name: str
    contact_count: int
    created_at: datetime

    @classmethod
    def of(cls, tag: Tag, *, contact_count: int) -> "TagPublic":
        """Build from a row and its contact count."""
        return cls(id=tag.id, name=tag.name, contact_count=contact_count, created_at=tag.created_at)
