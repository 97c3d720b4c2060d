"""Tags and tagging contacts; every add and remove lands on the contact's activity stream."""

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.crud.search import matches
from nurture.db.models import Contact, ContactTag, Tag


def get_tag(session: Session, *, tag_id: int) -> Tag | None:
    """The tag with this id."""
    return session.get(Tag, tag_id)


def get_tag_by_name(session: Session, *, name: str) -> Tag | None:
    """The tag with this name, ignoring case."""
    return session.scalar(select(Tag).where(func.lower(Tag.name) == name.strip().lower()))


def get_or_create_tag(session: Session, *, name: str) -> Tag:
    """The tag with this name, created as written if it does not exist yet."""
    tag = get_tag_by_name(session, name=name)
    if tag is not None:
        return tag
    try:
        # A savepoint: two runs tagging contacts with a new tag at once both try to create it.
        with session.begin_nested():
            tag = Tag(name=name.strip())
            session.add(tag)
    except IntegrityError:
        # The other one committed it first: use that row.
        tag = get_tag_by_name(session, name=name)
        if tag is None:
            raise
    return tag


def add_tag(session: Session, *, contact: Contact, name: str) -> bool:
    """Tag a contact; returns False if it already had the tag."""
    tag = get_or_create_tag(session, name=name)
    exists = session.get(ContactTag, (contact.id, tag.id))
    if exists is not None:
        return False
    session.add(ContactTag(contact_id=contact.id, tag_id=tag.id))
    record_activity(session, contact_id=contact.id, type="tag.added", data={"tag": tag.name})
    session.flush()
    session.expire(contact, ["tags"])
    return True


def remove_tag(session: Session, *, contact: Contact, name: str) -> bool:
    """Untag a contact; returns False if it did not have the tag."""
    tag = get_tag_by_name(session, name=name)
    if tag is None:
        return False
    result = session.execute(
        delete(ContactTag).where(ContactTag.contact_id == contact.id, ContactTag.tag_id == tag.id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    record_activity(session, contact_id=contact.id, type="tag.removed", data={"tag": tag.name})
    session.expire(contact, ["tags"])
    return True


def tag_counts(session: Session, *, tag_ids: list[int]) -> dict[int, int]:
    """How many contacts carry each of these tags."""
    rows = session.execute(
        select(ContactTag.tag_id, func.count())
        .where(ContactTag.tag_id.in_(tag_ids))
        .group_by(ContactTag.tag_id)
    )
    return {tag_id: count for tag_id, count in rows}


def filter_tags(*, search: str | None = None) -> Select[Tag]:
    """A query for tags whose name contains `search`, ignoring case."""
    query = select(Tag)
    if search:
        query = query.where(matches(search, Tag.name))
    return query


def create_tag(session: Session, *, name: str) -> Tag:
    """Insert a tag, named as written; callers check first that the name is free."""
    tag = Tag(name=name.strip())
    session.add(tag)
    session.flush()
    return tag


def rename_tag(session: Session, *, tag: Tag, name: str) -> Tag:
    """Rename a tag; contacts keep it, and past activity keeps the name it had then."""
    tag.name = name.strip()
    session.flush()
    return tag


def delete_tag(session: Session, *, tag: Tag) -> int:
    """Delete a tag, recording `tag.removed` on each contact that had it; returns how many."""
    contact_ids = list(session.scalars(select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)))
    for contact_id in contact_ids:
        record_activity(session, contact_id=contact_id, type="tag.removed", data={"tag": tag.name})
    # The foreign key cascades the contact_tags rows away on both SQLite and PostgreSQL.
    session.delete(tag)
    session.flush()
    return len(contact_ids)
