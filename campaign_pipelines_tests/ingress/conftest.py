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


@pytest.fixture
def start_ingress():
    """Starts ingresses for one test; any still running at its end is killed."""
    started: list[Ingress] = []

    def start(data_dir, **options) -> Ingress:
        started.append(Ingress(data_dir, **options))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
