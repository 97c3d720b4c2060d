"""Reading a contacts CSV file: size limits, encoding, separator, the header's columns, tag cells.

The header names an `email` column and any of COLUMNS (matched ignoring case); every other
column is a string custom field, except RESERVED built-in fields, which refuse the file. A
`tags` cell holds several tags separated by `,`, `;` or `|`.
"""

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from nurture.schemas.fields import MAX_CUSTOM_FIELDS, CustomFields

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
COLUMNS = ("email", "first_name", "last_name", "phone", "timezone", "status", "tags")
# Contact fields the importer does not set; as custom fields they would shadow them unnoticed.
RESERVED = ("id", "owner_id", "account_id", "created_at", "updated_at", "custom_fields", "lists")
# Spreadsheets and CRM exports join a cell's tags with any of these.
_TAG_SEPARATORS = re.compile(r"[,;|]")

_custom_fields = TypeAdapter(CustomFields)


class ImportRefused(Exception):
    """The import cannot run at all; `field` names the input at fault (`file`, `list_id`, a column)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class FileTooLarge(ImportRefused):
    """The file is over MAX_BYTES or holds more than MAX_ROWS rows."""


def read_contacts_csv(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The column names (known ones lower-cased) and the non-blank rows with their numbers."""
    if len(data) > MAX_BYTES:
        raise FileTooLarge("file", f"the file is over {MAX_BYTES:,} bytes; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused("file", "the file is not UTF-8 text; export it as CSV UTF-8") from exc
    if "\x00" in text:
        raise ImportRefused("file", "the file is binary, not CSV; export it as CSV UTF-8")
    # Spreadsheets in comma-decimal locales export `;`-separated files; the header line tells.
    delimiter = max(",;\t", key=text.partition("\n")[0].count)
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise ImportRefused("file", "the file is empty; a header row is required")
        columns = _columns(header)
        for number, cells in enumerate(reader, start=2):
            if any(cell.strip() for cell in cells):
                rows.append((number, cells))
                if len(rows) > MAX_ROWS:
                    raise FileTooLarge("file", f"the file has over {MAX_ROWS:,} rows; split it")
    except csv.Error as exc:
        raise ImportRefused("file", f"row {reader.line_num}: {exc}") from exc
    return columns, rows


def _columns(header: list[str]) -> list[str]:
    columns = [name.lower() if name.lower() in COLUMNS else name for name in (c.strip() for c in header)]
    if "email" not in columns:
        raise ImportRefused("file", "the header row has no email column")
    if len(set(columns) - set(COLUMNS)) > MAX_CUSTOM_FIELDS:
        raise ImportRefused("file", f"at most {MAX_CUSTOM_FIELDS} custom field columns")
    for index, name in enumerate(columns, start=1):
        if not name:
            raise ImportRefused("file", f"column {index} has no header; name it or delete it")
        if columns.index(name) != index - 1:
            raise ImportRefused(name, f"column '{name}' appears twice")
        if name.lower() in RESERVED:
            message = f"column '{name}' cannot be imported; rename it if it is meant as a custom field"
            raise ImportRefused(name, message)
        if name not in COLUMNS:
            try:
                _custom_fields.validate_python({name: None})
            except ValidationError as exc:
                raise ImportRefused(name, error_message(exc.errors()[0])) from exc
    return columns


def split_tags(cell: str, *, also: Iterable[str] = ()) -> list[str]:
    """The tags in one `tags` cell, split on `,`, `;` and `|`, followed by `also`.

    Args:
        cell: The cell as read, e.g. `"vip, beta|Lead"`.
        also: Tags added to the cell's, taken whole (the import's tags for every row).

    Returns:
        The tags trimmed, without empties and without repeats ignoring case (the first
        spelling wins), in order.
    """
    unique: dict[str, str] = {}
    for name in (name.strip() for name in [*_TAG_SEPARATORS.split(cell), *also]):
        if name:
            unique.setdefault(name.lower(), name)
    return list(unique.values())


def error_message(error: Any) -> str:
    """A pydantic error as a reader wants it."""
    if error["type"] == "missing":
        return "is required"
    # pydantic prefixes validator messages with "Value error, "; the field says enough.
    return str(error["msg"]).removeprefix("Value error, ")
