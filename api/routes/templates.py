"""/templates: email templates written in Jinja, validated on save, previewed for a contact."""

from fastapi import APIRouter

router = APIRouter(prefix="/templates", tags=["templates"])
