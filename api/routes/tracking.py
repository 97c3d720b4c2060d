"""Public tracking endpoints: the open pixel and the click redirect, both behind signed tokens."""

from fastapi import APIRouter

router = APIRouter(prefix="/t", tags=["tracking"])
