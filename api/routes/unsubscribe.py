"""Public unsubscribe: a page on GET that changes nothing, RFC 8058 one-click on POST."""

from fastapi import APIRouter

router = APIRouter(prefix="/u", tags=["unsubscribe"])
