"""The blacklist a campaign applies is the one in force when it is built, not the 05:00 one.

Real DuckDB bank, real Dagster instance: the `location` fixture has run reference_refresh_job,
then each test changes sources.blacklist the way the bank would during the day. A test sets
CAMPAIGN_BLACKLIST_MAX_AGE_S before its first campaign run: in-process runs reuse the job
Dagster loaded last, so the setting is read once per test, as a deployment reads it once per
process.
"""

import time
from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest

from campaign_pipelines.responses import materialization_metadata
from campaign_pipelines.service import register, run_job
from campaign_pipelines_tests.bank import ACRM, CUSTOMERS, request_text

SNAPSHOT_KEY = dg.AssetKey(["reference", "blacklist"])
CHECK = dg.AssetCheckKey(dg.AssetKey("filtered_audience"), "no_blacklisted_iins")
ONLY_ACRM = {"blacklist_tables": [ACRM]}


def _iins(*names: str) -> list[str]:
    return [CUSTOMERS[n].iin for n in names]


def _blacklist_now(location, name: str, source: str = ACRM) -> None:
    """The bank lists a customer after this morning's reference refresh."""
    with location.warehouse.adapter().connect() as connection:
        connection.execute(
            "INSERT INTO sources.blacklist (source, iin) VALUES ($source, $iin)",
            {"source": source, "iin": CUSTOMERS[name].iin},
        )


def _build(location, name: str, *customers: str):
    text = request_text(user_iins=_iins(*customers), filter_config=ONLY_ACRM)
    path = location.campaign_data.landing().write_atomic("campaigns", f"{name}.json", text.encode())
    registered = register(location, path)
    key = registered.admitted.key
    options = {"tags": registered.tags, "run_config": registered.run_config}
    return key, run_job(location, "audience_job", key, **options)


def _audience(data_dir, key: str) -> set[str]:
    frame = pl.read_parquet(data_dir / "assets" / "filtered_audience" / f"{key}.parquet")
    by_iin = {c.iin: n for n, c in CUSTOMERS.items()}
    return {by_iin[i] for i in frame["iin"]}


def _snapshot_time(location) -> datetime:
    event = location.instance.get_latest_materialization_event(SNAPSHOT_KEY)
    return datetime.fromtimestamp(event.timestamp, UTC)


def _check_evaluation(result) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == CHECK]
    return evaluation


@pytest.mark.parametrize("max_age", ["0", "1"])
def test_customer_blacklisted_after_the_refresh_is_left_out_once_the_snapshot_is_too_old(
    location, data_dir, monkeypatch, max_age
):
    monkeypatch.setenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", max_age)
    _blacklist_now(location, "plain")
    while (datetime.now(UTC) - _snapshot_time(location)).total_seconds() < int(max_age) + 0.05:
        time.sleep(0.1)  # let the snapshot pass the maximum age
    key, result = _build(location, "late_listing", "plain", "ios_deposit", "acrm_listed")
    assert result.success
    stats = materialization_metadata(result, "filtered_audience")["filter_stats"]
    # acrm_listed was in this morning's snapshot; plain only in the blacklist as it is now.
    assert (stats["blacklist_removed"], stats["after_blacklist"]) == (2, 1)
    assert _audience(data_dir, key) == {"ios_deposit"}
    applied = materialization_metadata(result, "campaign_blacklist")["blacklist_snapshot"]
    assert applied["kind"] == "live extract" and applied["rows_per_source"] == {ACRM: 4}


def test_fresh_snapshot_is_applied_without_querying_the_warehouse(location, data_dir, monkeypatch):
    monkeypatch.delenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", raising=False)  # 3600 s
    _blacklist_now(location, "plain")
    with location.warehouse.adapter().connect() as connection:  # a live query would now fail
        connection.execute("ALTER TABLE sources.blacklist RENAME TO blacklist_moved")
    key, result = _build(location, "fresh_snapshot", "plain", "ios_deposit", "acrm_listed")
    assert result.success
    applied = materialization_metadata(result, "campaign_blacklist")["blacklist_snapshot"]
    assert applied["kind"] == "reference snapshot"
    assert applied["as_of"] == _snapshot_time(location).isoformat(timespec="seconds")
    assert applied["rows_per_source"] == {ACRM: 3}  # acrm_listed, dssb_and_acrm, seed_1
    # Within the maximum age, a listing made after the refresh waits for the next refresh.
    assert _audience(data_dir, key) == {"plain", "ios_deposit"}


def test_metadata_names_the_snapshot_applied_and_its_time(location, monkeypatch):
    monkeypatch.delenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", raising=False)  # 3600 s
    key, result = _build(location, "snapshot_meta", "plain", "acrm_listed")
    snapshot_as_of = _snapshot_time(location)
    on_asset = materialization_metadata(result, "campaign_blacklist")["blacklist_snapshot"]
    on_audience = materialization_metadata(result, "filtered_audience")["blacklist_snapshot"]
    on_check = _check_evaluation(result).metadata["blacklist_snapshot"].value
    assert on_asset == on_audience == on_check
    assert on_asset["kind"] == "reference snapshot" and on_asset["max_age_s"] == 3600
    assert on_asset["as_of"] == snapshot_as_of.isoformat(timespec="seconds")
    assert 0 <= on_asset["age_s"] < 3600


def test_metadata_names_the_live_extract_and_its_time(location, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", "0")
    before = datetime.now(UTC).replace(microsecond=0)
    _, live = _build(location, "live_meta", "plain", "acrm_listed")
    after = datetime.now(UTC)
    applied = materialization_metadata(live, "filtered_audience")["blacklist_snapshot"]
    assert applied["kind"] == "live extract" and applied["max_age_s"] == 0
    assert before <= datetime.fromisoformat(applied["as_of"]) <= after
    assert applied["age_s"] == 0.0 and applied["rows_per_source"] == {ACRM: 3}


def test_blocking_check_fails_when_the_audience_holds_someone_on_the_applied_blacklist(
    location, data_dir, monkeypatch
):
    monkeypatch.setenv("CAMPAIGN_BLACKLIST_MAX_AGE_S", "0")
    key, built = _build(location, "recheck", "plain", "ios_deposit")
    assert built.success and _audience(data_dir, key) == {"plain", "ios_deposit"}
    _blacklist_now(location, "plain")
    # Before deploying, re-take the blacklist as it is now and re-run the blocking check on
    # the audience already built.
    recheck = dg.define_asset_job(
        "blacklist_recheck",
        selection=dg.AssetSelection.assets("campaign_blacklist") | dg.AssetSelection.checks(CHECK),
    )
    from campaign_pipelines.definitions import defs

    loaded = dg.Definitions.merge(defs(), dg.Definitions(jobs=[recheck]))
    result = loaded.resolve_job_def("blacklist_recheck").execute_in_process(
        instance=location.instance, partition_key=key, raise_on_error=False
    )
    evaluation = _check_evaluation(result)
    assert not evaluation.passed
    assert evaluation.metadata["offending_rows"].value == 1
    assert evaluation.metadata["blacklist_snapshot"].value["kind"] == "live extract"
