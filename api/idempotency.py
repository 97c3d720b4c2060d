"""The Idempotency-Key header: the same key with the same request sends once and answers with
the first result; the same key with another request is refused."""

import hashlib
import json
import uuid
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel
from temporalio.client import WorkflowHandle

from api.errors import Problem

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="The same key with the same request sends once and answers with the first result",
    ),
]
# Kept in the run's memo: the request a key was first used with.
MEMO = "request_digest"


def message_key(prefix: str, *, caller: int, idempotency_key: str | None) -> str:
    """The message key of a request: new each time without the header.

    Keys become workflow ids, which must hold no personal data: the caller's key is hashed, and
    scoped to the API key, so two applications cannot collide.
    """
    if idempotency_key is None:
        return f"{prefix}-{uuid.uuid4()}"
    return f"{prefix}-" + hashlib.sha256(f"{caller}:{idempotency_key}".encode()).hexdigest()[:48]


def digest(body: BaseModel, **more: Any) -> str:
    """SHA-256 of a request: its body, and what its path names."""
    request = {"body": body.model_dump(mode="json"), **more}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


async def refuse_another_request(handle: WorkflowHandle[Any, Any], request_digest: str) -> None:
    """A 422 naming the header unless the run of a key used before was started by this request."""
    first = (await (await handle.describe()).memo()).get(MEMO)
    if first != request_digest:
        raise Problem(
            422,
            "Validation failed",
            "Idempotency-Key: this key was used with a different request",
            field="Idempotency-Key",
        )
