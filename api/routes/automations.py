"""/automations: definitions saved as immutable versions, their status, runs and reports."""

from fastapi import APIRouter

router = APIRouter(prefix="/automations", tags=["automations"])
