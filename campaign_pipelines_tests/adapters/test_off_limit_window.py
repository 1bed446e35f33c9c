"""Which earlier campaigns hold a new campaign's users back: core's window over the warehouse's
off-limit rows, on a real DuckDB file, without a Dagster run (defs/test_deployment.py keeps one
deployment end to end)."""

from datetime import datetime

import polars as pl
import pytest

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.core import audience
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines.core.split import CONTROL, TARGET
from campaign_pipelines_tests.bank import request_text

HELD = ["850315300100", "900101400200"]
MAY = {"campaign_name": "May", "date_start": "2024-05-01", "date_end": "2024-05-31"}


@pytest.fixture
def deployment(tmp_path) -> DuckDBDeployment:
    """A warehouse whose off-limit table holds the March campaign's target and control."""
    deployed = DuckDBDeployment(DuckDBWarehouse(tmp_path / "warehouse.duckdb"))
    deployed.init_schema()
    march = parse_request(request_text())  # the seed request: 2024-03-01 .. 2024-03-31
    code = deployed.allocate_codes("march", march).campaign_code
    split = pl.DataFrame({"iin": HELD, "group": [TARGET, CONTROL]})
    rows = tables.user_rows(tables.OFF_LIMIT_CAMPAIGNS_USERS, split, march, code,
                            datetime(2024, 2, 20))
    deployed.replace_campaign_rows(tables.OFF_LIMIT_CAMPAIGNS_USERS, code, rows)
    return deployed


def _held_for(deployment: DuckDBDeployment, key: str, **request) -> list[str]:
    query = audience.off_limit_query(parse_request(request_text(**request)),
                                     deployment.registry(), key)
    held = deployment.off_limit_iins(query.window_from, query.window_to, query.own_code)
    return sorted(held["iin"])


def test_an_overlapping_campaign_holds_its_target_and_control_back(deployment):
    overlapping = {"campaign_name": "Spring", "date_start": "2024-03-15",
                   "date_end": "2024-04-15"}
    assert _held_for(deployment, "spring", metadata=overlapping, off_limit_days=0) == HELD


@pytest.mark.parametrize("days", [0, 10])
def test_a_campaign_that_ended_long_before_holds_nobody(deployment, days):
    assert _held_for(deployment, "may", metadata=MAY, off_limit_days=days) == []


@pytest.mark.parametrize(("days", "held"), [(30, []), (31, HELD)])
def test_the_window_includes_a_campaign_that_ended_exactly_n_days_before(deployment, days, held):
    """March ends 2024-03-31, 31 days before May 1: a 31-day window reaches it, 30 does not."""
    assert _held_for(deployment, "may", metadata=MAY, off_limit_days=days) == held


def test_a_campaign_deployed_again_is_not_held_back_by_itself(deployment):
    assert _held_for(deployment, "march", off_limit_days=30) == []
    assert _held_for(deployment, "another", off_limit_days=30) == HELD


def test_no_off_limit_days_means_no_query():
    assert audience.off_limit_query(parse_request(request_text(metadata=MAY)),
                                    pl.DataFrame({"campaign_key": [], "campaign_code": []}),
                                    "may") is None
