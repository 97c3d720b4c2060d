"""The report POST /contacts/import returns."""

from nurture.schemas.fields import Output


class RowError(Output):
    """Why one row was not imported; `row` counts as a spreadsheet does (the header is row 1)."""

    row: int
    field: str | None
    message: str


class ImportReport(Output):
    """How many rows were created, updated, skipped or failed, and why (the first 1,000 reasons)."""

    created: int
    updated: int
    skipped: int
    failed: int
    errors: list[RowError]
