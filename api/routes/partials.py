"""/partials: named Jinja snippets (layouts, footers) that templates include or extend."""

from fastapi import APIRouter

router = APIRouter(prefix="/partials", tags=["templates"])
