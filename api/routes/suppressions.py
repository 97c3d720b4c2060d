"""/suppressions: the addresses Nurture will not email (hard bounces, complaints, manual)."""

from fastapi import APIRouter

router = APIRouter(prefix="/suppressions", tags=["suppressions"])
