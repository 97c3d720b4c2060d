"""Postmark's webhooks: delivery, bounce, complaint, open, click and subscription changes."""

from fastapi import APIRouter

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
