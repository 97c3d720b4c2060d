"""/events: custom events about contacts, which trigger, advance and end automation runs."""

from fastapi import APIRouter

router = APIRouter(prefix="/events", tags=["events"])
