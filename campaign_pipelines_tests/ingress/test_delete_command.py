"""What the ingress's DELETE /campaigns/{code} lands is what command_arrivals_sensor admits: the
real endpoint's file, moved into a landing zone of the test's own, deletes the campaign."""

import os
import shutil
import time

import dagster as dg
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.defs.resources import CampaignDataResource, DuckDBWarehouseResource
from campaign_pipelines_tests.defs.test_commands import apply, deploy, target_rows, tick

# On one xdist worker, one after another, with the other modules that use the package's
# `ingress` (ingress/conftest.py): each shared server then starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("ingress")


def test_the_endpoint_s_delete_file_is_admitted_and_applied(ingress, tmp_path):
    database = tmp_path / "warehouse.duckdb"
    code = deploy(database, "spring")
    headers = {"Authorization": ingress.post_headers()["Authorization"]}
    answer = ingress.client.delete(f"/campaigns/{code}", headers=headers)
    assert answer.status_code == 202, answer.text
    folder = tmp_path / "landing" / "commands"
    folder.mkdir(parents=True)
    landed = folder / answer.json()["file"]
    shutil.move(ingress.landing / "commands" / landed.name, landed)
    then = time.time() - 60  # past the quiet period
    os.utime(landed, (then, then))
    resources = {
        "warehouse": DuckDBWarehouseResource(
            database=str(database), reference_config_path=str(default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(tmp_path)),
    }
    with dg.instance_for_test() as instance:
        [request] = tick(resources, instance).run_requests
        result, [report] = apply(request, resources, instance)
    assert result.success and report["outcome"] == "deleted" and report["campaign"] == code
    assert target_rows(database, code) == 0
    assert (folder / "archive" / landed.name).exists()
