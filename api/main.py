"""Builds the FastAPI app: error model, routers, and the per-process database and Temporal handles."""

from fastapi import Depends, FastAPI

from api import errors
from api.body_limit import BodyLimit
from api.deps import require_api_key
from api.routes import (
    accounts,
    automation_enrollments,
    automation_migrations,
    automation_runs,
    automation_status,
    automations,
    campaign_actions,
    campaigns,
    contact_import,
    contacts,
    deals,
    events,
    health,
    inbound,
    lists,
    mailboxes,
    messages,
    metrics,
    one_to_one,
    partials,
    suppressions,
    tags,
    templates,
    tracking,
    transactional,
    unsubscribe,
    users,
    webhooks,
)
from api.schemas.transactional import MAX_REQUEST_BYTES
from api.temporal import TemporalConnection
from nurture.crud import contact_csv
from nurture.db.session import session_factory
from nurture.observability.http import RequestMetrics
from nurture.settings import Settings, get_settings

MAX_JSON_BODY = 1024 * 1024

# Every router here needs an API key; the public ones authenticate their own way, or need not.
PROTECTED_ROUTERS = [
    contact_import.router,
    contacts.router,
    lists.router,
    tags.router,
    users.router,
    accounts.router,
    deals.router,
    templates.router,
    partials.router,
    transactional.router,
    one_to_one.router,
    mailboxes.router,
    messages.router,
    suppressions.router,
    automations.router,
    automation_status.router,
    automation_runs.router,
    automation_enrollments.router,
    automation_migrations.router,
    campaigns.router,
    campaign_actions.router,
    events.router,
]

# Health; tracking and unsubscribe (signed tokens); webhooks (HTTP basic auth).
PUBLIC_ROUTERS = [health.router, tracking.router, unsubscribe.router, webhooks.router, inbound.router]


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app for these settings (the process's settings by default)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Nurture",
        version="0.1.0",
        description="Marketing automation on Temporal. Authenticate with `Authorization: Bearer <api key>`.",
    )
    app.state.settings = settings
    app.state.sessions = session_factory(settings.resolved_database_url)
    app.state.temporal = TemporalConnection(settings)
    errors.install(app)
    # JSON bodies are small; the CSV import and attachments raise their own limits.
    import_limit = contact_csv.MAX_BYTES + 64 * 1024
    larger = {"/contacts/import": import_limit, "/messages/transactional": MAX_REQUEST_BYTES}
    app.add_middleware(BodyLimit, default=MAX_JSON_BODY, per_path=larger)
    # Outermost, so that requests the body limit refuses are counted and timed too.
    app.add_middleware(RequestMetrics)
    for router in PUBLIC_ROUTERS:
        app.include_router(router)
    if settings.api_metrics:
        # Public, or behind its own token (NURTURE_METRICS_TOKEN): scrapers hold no API key.
        app.include_router(metrics.router)
    for router in PROTECTED_ROUTERS:
        app.include_router(
            router, dependencies=[Depends(require_api_key)], responses=errors.PROBLEM_RESPONSES
        )
    return app
