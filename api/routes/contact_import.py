"""/contacts/import: create or update many contacts from one CSV file, with a report per row."""

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Request, UploadFile

from api.automation_signals import activity_mark, dispatch_since_after_response
from api.deps import SessionDep
from api.errors import Problem, invalid
from api.schemas.contact_import import ImportReport
from nurture.crud import contact_csv
from nurture.crud import contact_import as importer
from nurture.schemas.fields import MAX_ID

router = APIRouter(prefix="/contacts", tags=["contacts"])


@router.post("/import", response_model=ImportReport)
def import_contacts(
    session: SessionDep,
    request: Request,
    background: BackgroundTasks,
    file: Annotated[UploadFile, File(description="CSV in UTF-8 with a header row; `email` column required")],
    list_id: Annotated[
        int | None, Form(ge=1, le=MAX_ID, description="Subscribe every imported contact")
    ] = None,
    tags: Annotated[str | None, Form(description="Tags for every row, separated by , ; or |")] = None,
    update_existing: Annotated[
        bool, Form(description="Update contacts that exist instead of skipping them")
    ] = False,
) -> ImportReport:
    """Import contacts from a CSV file; good rows are imported even when others fail."""
    # One byte past the limit is enough to refuse an oversize file without holding all of it.
    data = file.file.read(contact_csv.MAX_BYTES + 1)
    # The import reports counts, not contacts: triggers read what it recorded after this mark.
    mark = activity_mark(session)
    try:
        result = importer.import_contacts(
            session,
            data=data,
            filename=file.filename or "upload.csv",
            list_id=list_id,
            tags=contact_csv.split_tags(tags or ""),
            update_existing=update_existing,
        )
    except contact_csv.FileTooLarge as exc:
        raise Problem(413, "Content too large", str(exc), field=exc.field) from exc
    except contact_csv.ImportRefused as exc:
        raise invalid(exc.field, exc.message) from exc
    session.commit()
    dispatch_since_after_response(background, request, session, after_activity_id=mark)
    return ImportReport.model_validate(result)
