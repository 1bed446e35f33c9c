"""/ready, the readiness probe: 200 while requests can be landed, 503 with the reason when the
landing zone cannot be written; /health (liveness) stays 200 either way."""

import shutil

import pytest
from fastapi.testclient import TestClient

from campaign_pipelines.ingress.app import create_app
from campaign_pipelines.ingress.settings import read_ingress_settings

# On one xdist worker, one after another, with the other modules that use the package's
# `ingress` (ingress/conftest.py): each shared server then starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("ingress")


def test_ready_while_the_landing_folder_can_be_written(ingress):
    answer = ingress.client.get("/ready")
    assert (answer.status_code, answer.json()) == (200, {"status": "ready"})


def test_not_ready_once_the_data_folder_is_gone_and_the_reason_is_named(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(data))
    monkeypatch.setenv("INGRESS_TOKEN", "ready-test-token")
    with TestClient(create_app(read_ingress_settings())) as client:
        assert client.get("/ready").status_code == 200
        shutil.rmtree(data)  # a volume unmounted under the running ingress, say
        data.write_text("not a folder", encoding="utf-8")
        answer = client.get("/ready")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        assert answer.json() == {"status": "not ready", "problem": f"{data} is not a folder: "
                                 "CAMPAIGN_DATA_URL (or CAMPAIGN_DATA_DIR) must name a folder"}
        assert client.get("/health").status_code == 200  # liveness: nothing to restart
