import pytest

from campaign_pipelines_tests.ingress.server import Ingress

ALERT_WEBHOOK_URL = "https://discord.example/api/webhooks/1/hook-secret-value"


@pytest.fixture(scope="package")
def ingress(tmp_path_factory: pytest.TempPathFactory):
    """One running ingress for the tests that share it (a server start is ~1 s of CPU)."""
    server = Ingress(tmp_path_factory.mktemp("ingress") / "data",
                     ALERT_WEBHOOK_URL=ALERT_WEBHOOK_URL)
    yield server
    server.stop()
