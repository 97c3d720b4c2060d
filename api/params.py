"""Id types for path, query and form parameters: positive and within a 64-bit column."""

from typing import Annotated

from fastapi import Path, Query

from nurture.schemas.fields import MAX_ID

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
