"""Import contacts from a CSV file, each row validated as POST /contacts does and applied atomically."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.crud.contact_csv import COLUMNS, ImportRefused, error_message, read_contacts_csv, split_tags
from nurture.crud.contacts import create_contact, update_contact
from nurture.crud.lists import get_list, set_subscription
from nurture.crud.tags import get_or_create_tag
from nurture.db.base import utcnow
from nurture.db.models import (
    ActivityEvent,
    Contact,
    ContactStatus,
    ContactTag,
    ListSubscription,
    SubscriptionStatus,
    Tag,
)
from nurture.schemas.contacts import ContactCreate, TagName

MAX_REPORTED_ERRORS = 1_000
# Emails per existing-contact lookup: one query per chunk, well under SQLite's parameter limit.
CHUNK_SIZE = 500

_tag_names = TypeAdapter(list[TagName])


@dataclass
class RowError:
    """Why one row (numbered as a spreadsheet shows it, header = 1) was not imported as given."""

    row: int
    field: str | None
    message: str


@dataclass
class ImportResult:
    """Counts of what happened to each row, and the first MAX_REPORTED_ERRORS reasons."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)

    def report(self, errors: list[RowError]) -> None:
        """Keep these errors, in row order, up to the cap."""
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(sorted(errors, key=attrgetter("row"))[: max(room, 0)])


def _validate(
    number: int, columns: list[str], cells: list[str], tags: Sequence[str]
) -> ContactCreate | list[RowError]:
    """The row as a ContactCreate, or why it is not one; empty cells are left unset, tags split."""
    extra = [cell for cell in cells[len(columns) :] if cell.strip()]
    if extra:
        message = f"the row has {len(cells)} cells but the header has {len(columns)} columns"
        return [RowError(number, None, message)]
    body: dict[str, Any] = {}
    custom: dict[str, str] = {}
    tag_cell = ""
    for name, cell in zip(columns, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        if name == "tags":
            tag_cell = value
        elif name in COLUMNS:
            body[name] = value.lower() if name == "status" else value
        else:
            custom[name] = value
    if custom:
        body["custom_fields"] = custom
    body["tags"] = split_tags(tag_cell, also=tags)
    try:
        return ContactCreate.model_validate(body)
    except ValidationError as exc:
        return [
            RowError(number, str(e["loc"][0]) if e["loc"] else None, error_message(e)) for e in exc.errors()
        ]


def import_contacts(
    session: Session,
    *,
    data: bytes,
    filename: str,
    list_id: int | None = None,
    tags: Sequence[str] = (),
    update_existing: bool = False,
) -> ImportResult:
    """Create (or update) a contact per CSV row; flushes, and leaves committing to the caller.

    Args:
        session: The session to write in; a bad row is rolled back to its own savepoint.
        data: The CSV file's bytes; its format is described in contact_csv.
        filename: Recorded as the consent source `import:<filename>` of list subscriptions.
        list_id: A list to subscribe every imported contact to.
        tags: Tags added to every imported contact, after those of its `tags` cell.
        update_existing: Update contacts whose email exists (merging custom fields) instead of
            skipping them.

    Returns:
        What happened to the rows, with the reasons for rows not imported as given.

    Raises:
        ImportRefused: An unknown list, a bad tag, an unusable file or a column naming a
            built-in field the import does not set (nothing is written).
        FileTooLarge: The file is over the size or row limit.
    """
    if list_id is not None and get_list(session, list_id=list_id) is None:
        raise ImportRefused("list_id", f"list {list_id} does not exist")
    try:
        tags = _tag_names.validate_python(tags)
    except ValidationError as exc:
        raise ImportRefused("tags", error_message(exc.errors()[0])) from exc
    columns, rows = read_contacts_csv(data)
    writer = _Writer(session, list_id, f"import:{filename}"[:200], update_existing)
    result = ImportResult()
    seen: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK_SIZE):
        errors: list[RowError] = []
        valid: list[tuple[int, ContactCreate]] = []
        for number, cells in rows[start : start + CHUNK_SIZE]:
            contact_in = _validate(number, columns, cells, tags)
            if isinstance(contact_in, list):
                errors.extend(contact_in)
                result.failed += 1
            elif contact_in.email in seen:
                message = f"{contact_in.email} already appears in row {seen[contact_in.email]}"
                errors.append(RowError(number, "email", message))
                result.failed += 1
            else:
                seen[contact_in.email] = number
                valid.append((number, contact_in))
        writer.write(valid, result, errors)
        result.report(errors)
    return result


class _Writer:
    """Writes validated rows: each contact in its own savepoint, their tags and lists in bulk."""

    def __init__(self, session: Session, list_id: int | None, source: str, update_existing: bool) -> None:
        self.session = session
        self.list_id = list_id
        self.source = source
        self.update_existing = update_existing
        self.tags: dict[str, Tag] = {}
        self.links: list[dict[str, Any]] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def write(
        self, rows: list[tuple[int, ContactCreate]], result: ImportResult, errors: list[RowError]
    ) -> None:
        """Create or update one chunk of rows, counting each and reporting those not written."""
        found = self.session.scalars(select(Contact).where(Contact.email.in_([c.email for _, c in rows])))
        existing = {contact.email: contact for contact in found}
        if not self.update_existing:
            for number, contact_in in rows:
                if contact_in.email in existing:
                    message = f"a contact with email {contact_in.email} already exists; skipped"
                    errors.append(RowError(number, "email", message))
                    result.skipped += 1
            rows = [row for row in rows if row[1].email not in existing]
        # Outside the row savepoints, so a rolled-back row cannot take a cached tag with it.
        for name in {name.lower(): name for _, contact_in in rows for name in contact_in.tags}.values():
            if name.lower() not in self.tags:
                self.tags[name.lower()] = get_or_create_tag(self.session, name=name)
        for number, contact_in in rows:
            contact = existing.get(contact_in.email)
            try:
                with self.session.begin_nested():
                    contact_id, had, subscribe = self._apply(contact_in, contact)
            except IntegrityError:
                # Another writer created this email since the lookup.
                message = f"a contact with email {contact_in.email} already exists"
                errors.append(RowError(number, "email", message))
                result.failed += 1
            else:
                self._stage(contact_id, contact_in, had, subscribe)
                result.created += contact is None
                result.updated += contact is not None
        # Three statements per chunk rather than several per row: seconds instead of tens of
        # seconds for 10,000 rows. Only rows whose savepoint held got here, so rows stay whole.
        for model, values in (
            (ContactTag, self.links),
            (ListSubscription, self.subscriptions),
            (ActivityEvent, self.events),
        ):
            if values:
                self.session.execute(insert(model), values)
            values.clear()

    def _apply(self, contact_in: ContactCreate, contact: Contact | None) -> tuple[int, set[int], bool]:
        """Write the contact; returns its id, the ids of its tags, and whether to subscribe it."""
        if contact is None:
            fields = contact_in.model_dump(exclude={"tags", "lists"})
            contact = create_contact(self.session, fields=fields, source="import")
            return contact.id, set(), self.list_id is not None
        changes = contact_in.model_dump(exclude_unset=True, exclude={"tags", "lists"})
        # An import never undoes an unsubscribe, bounce or complaint, globally or on the list.
        if contact.status != ContactStatus.ACTIVE:
            changes.pop("status", None)
        update_contact(self.session, contact=contact, changes=changes)
        had = {tag.id for tag in contact.tags}
        current = next((s for s in contact.subscriptions if s.list_id == self.list_id), None)
        self.session.expire(contact, ["tags", "subscriptions"])
        if current is not None and current.status == SubscriptionStatus.PENDING:
            set_subscription(
                self.session,
                list_id=current.list_id,
                contact_id=contact.id,
                status=SubscriptionStatus.SUBSCRIBED,
                consent_source=self.source,
            )
        return contact.id, had, self.list_id is not None and current is None

    def _stage(self, contact_id: int, contact_in: ContactCreate, had: set[int], subscribe: bool) -> None:
        """Queue the rows add_tag and set_subscription would write, for one insert per table."""
        now = utcnow()
        for tag in (self.tags[key] for key in dict.fromkeys(name.lower() for name in contact_in.tags)):
            if tag.id not in had:
                self.links.append({"contact_id": contact_id, "tag_id": tag.id, "created_at": now})
                self.events.append(_event(contact_id, "tag.added", {"tag": tag.name}, now))
        if subscribe:
            self.subscriptions.append(
                {
                    "list_id": self.list_id,
                    "contact_id": contact_id,
                    "status": SubscriptionStatus.SUBSCRIBED,
                    "consent_source": self.source,
                    "consent_at": now,
                }
            )
            data = {"list_id": self.list_id, "source": self.source}
            self.events.append(_event(contact_id, "list.subscribed", data, now))


def _event(contact_id: int, type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"contact_id": contact_id, "type": type, "data": data, "occurred_at": at}
