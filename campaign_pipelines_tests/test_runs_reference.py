"""The first command on a fresh warehouse: reference datasets are built before the campaign."""

import json
from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines.cli import main
from campaign_pipelines_tests.bank import request_text

REFERENCE_MISSING = "reference datasets missing: building them first (run "


@pytest.fixture
def home(bare_home):
    """Only the sources.* tables of data_dir are filled: no `db init`, no refresh."""
    return bare_home


def _request(tmp_path: Path) -> Path:
    request = tmp_path / "fresh.json"
    request.write_text(request_text(), encoding="utf-8")
    return request


@pytest.mark.long_pole(seconds=8)
def test_dry_run_on_a_fresh_warehouse_builds_the_reference_first(home, tmp_path, capsys):
    assert main(["create", str(_request(tmp_path)), "--dry-run"]) == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out[captured.out.index("{"):])
    assert body["success"], body["message"]
    assert body["filter_stats"]["final_count"] == 2
    assert REFERENCE_MISSING in captured.err
    refresh_id = captured.err.split(REFERENCE_MISSING)[1].split(")")[0]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        refresh = instance.get_run_by_id(refresh_id)
        assert refresh.job_name == "reference_refresh_job"
        assert refresh.status == dg.DagsterRunStatus.SUCCESS

    assert main(["create", str(_request(tmp_path)), "--dry-run"]) == 0
    assert REFERENCE_MISSING not in capsys.readouterr().err  # built once, not every time


def test_a_deleted_reference_file_is_built_again(home, data_dir, tmp_path, capsys):
    assert main(["reference", "refresh"]) == 0
    (data_dir / "assets" / "reference" / "customer_profile" / "__all__.parquet").unlink()
    capsys.readouterr()
    assert main(["create", str(_request(tmp_path)), "--dry-run"]) == 0
    assert REFERENCE_MISSING in capsys.readouterr().err
