"""/messages: send one email through the durable pipeline and read what became of it."""

from fastapi import APIRouter

router = APIRouter(prefix="/messages", tags=["messages"])
