"""/health against the real dev server: both dependencies ok."""

from fastapi.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.settings import Settings


async def test_health_is_ok_with_database_and_temporal(
    dev_server: WorkflowEnvironment, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"temporal_address": dev_server.client.service_client.config.target_host}
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "database": {"status": "ok", "detail": None},
        "temporal": {"status": "ok", "detail": None},
    }
