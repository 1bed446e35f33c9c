"""metrics/daily_kpis, its checks and schedule, and metrics/campaign_outcomes, materialized with
Dagster over a real DuckDB warehouse (campaign_pipelines_tests/metrics/ledgers.py)."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment
from campaign_pipelines.defs.metrics import checks
from campaign_pipelines.defs.metrics.assets import (
    CAMPAIGN_OUTCOMES,
    DAILY_KPIS,
    campaign_outcomes,
    daily_kpis_asset,
)
from campaign_pipelines.defs.metrics.jobs import metrics_daily_job
from campaign_pipelines.defs.metrics.schedules import metrics_daily_schedule
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, DuckDBWarehouseResource
from campaign_pipelines_tests.metrics.ledgers import (
    ACTION,
    CODE,
    DAYS,
    FIRST,
    KEY,
    NO_CONTROL_KEY,
    warehouse,
)
from campaign_pipelines_tests.templates import copy_into

CHECKS = [checks.counts_not_negative, checks.delivered_and_failed_within_sent,
          checks.sent_within_queued, checks.one_row_per_day_campaign_channel]
LAST = FIRST + timedelta(days=DAYS - 1)


def _resources(directory: Path) -> dict:
    return {
        "warehouse": DuckDBWarehouseResource(
            database=str(directory / "warehouse.duckdb"),
            reference_config_path=str(default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(directory)),
    }


@pytest.fixture
def world(tmp_path, ledgers_template):
    """build_ledgers' warehouse in tmp_path (a copy of the session's, conftest.py)."""
    copy_into(ledgers_template, tmp_path)
    return tmp_path


def _defs(directory: Path) -> dg.Definitions:
    job = dg.define_asset_job("metrics_daily_job", selection=dg.AssetSelection.assets(DAILY_KPIS))
    return dg.Definitions(assets=[daily_kpis_asset, campaign_outcomes], asset_checks=CHECKS,
                          jobs=[job], resources=_resources(directory))


def _run(directory: Path, instance, tags: dict[str, str], checks_only: bool = False):
    defs = _defs(directory)
    if checks_only:
        job = dg.define_asset_job("checks", selection=dg.AssetSelection.checks(*CHECKS))
        defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        return defs.resolve_job_def("checks").execute_in_process(instance=instance, tags=tags)
    return defs.resolve_job_def("metrics_daily_job").execute_in_process(
        instance=instance, tags=tags)


def _day(day: date) -> dict[str, str]:
    return {"dagster/partition": day.isoformat()}


def test_materializing_a_day_again_replaces_its_rows(world):
    deployment = DuckDBDeployment(warehouse(world))
    with dg.instance_for_test() as instance:
        first = _run(world, instance, _day(FIRST))
        before = deployment.kpi_rows(FIRST, FIRST)
        second = _run(world, instance, _day(FIRST))
    assert first.success and second.success
    assert deployment.kpi_rows(FIRST, FIRST).equals(before)
    assert before.select("campaign", "channel").is_unique().all()
    [materialization] = second.asset_materializations_for_node("metrics__daily_kpis")
    metadata = materialization.metadata
    assert metadata["dagster/row_count"].value == before.height
    assert metadata["rows/sms"].value == 1 and metadata["rows/deploy"].value == 1
    assert "| day | campaign | channel |" in metadata["preview"].value
    assert all(e.passed for e in second.get_asset_check_evaluations())


def test_a_30_day_backfill_is_one_run_with_a_materialization_per_day(world):
    last = FIRST + timedelta(days=29)
    tags = {"dagster/asset_partition_range_start": FIRST.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}
    with dg.instance_for_test() as instance:
        result = _run(world, instance, tags)
    assert result.success
    days = {m.partition for m in result.asset_materializations_for_node("metrics__daily_kpis")}
    assert len(days) == 30
    rows = DuckDBDeployment(warehouse(world)).kpi_rows(FIRST, last)
    # activity on DAYS days, and the last day's 20:00 UTC chain move on the day after
    assert rows["day"].n_unique() == DAYS + 1
    assert rows.select("day", "campaign", "channel").is_unique().all()


def test_the_checks_fail_naming_a_hand_broken_row(world):
    with dg.instance_for_test() as instance:
        assert _run(world, instance, _day(FIRST)).success
        with warehouse(world).connect() as connection:
            connection.execute("UPDATE campaign_ops.kpi_daily SET sent = queued + 5, "
                               "delivered = -1 WHERE channel = 'sms'")
        result = _run(world, instance, _day(FIRST), checks_only=True)
    assert result.success  # not blocking: the checks fail, the run does not
    verdicts = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name for name, e in verdicts.items() if not e.passed} == {
        "counts_not_negative", "sent_within_queued"}
    failed = verdicts["sent_within_queued"]
    assert failed.description.startswith("sent > queued in 1 row(s): 2026-03-01 promo sms")
    assert failed.metadata["broken"].value == ["2026-03-01 promo sms"]


def test_the_run_days_come_from_the_run_partition_tags():
    assert checks.run_days(_day(FIRST)) == (FIRST, FIRST)
    assert checks.run_days({"dagster/asset_partition_range_start": "2026-03-01",
                            "dagster/asset_partition_range_end": "2026-03-30"}) == (
        FIRST, date(2026, 3, 30))
    assert checks.run_days({}) == checks.EVERY_DAY


def test_the_schedule_asks_for_yesterday_in_almaty_once_per_day(tmp_path):
    defs = dg.Definitions(assets=[daily_kpis_asset], jobs=[metrics_daily_job],
                          schedules=[metrics_daily_schedule], resources=_resources(tmp_path))
    tick = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)  # 06:30 in Almaty
    context = dg.build_schedule_context(scheduled_execution_time=tick,
                                        repository_def=defs.get_repository_def())
    [request] = metrics_daily_schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-29"
    assert request.run_key == "kpi-daily@2026-11-29"
    assert metrics_daily_schedule.execution_timezone == "Asia/Almaty"


def test_the_freshness_policy_expects_yesterday_by_nine_in_almaty():
    spec = daily_kpis_asset.specs_by_key[DAILY_KPIS]
    policy = spec.freshness_policy
    assert (policy.deadline_cron, policy.timezone) == ("0 9 * * *", "Asia/Almaty")
    assert policy.lower_bound_delta == timedelta(hours=9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the policy is current 1.13 API: no warning at all
        dg.FreshnessPolicy.cron(deadline_cron="0 9 * * *", lower_bound_delta=timedelta(hours=9),
                                timezone="Asia/Almaty")


@pytest.fixture
def outcomes(tmp_path, outcomes_template):
    """outcome_world's warehouse and requests in tmp_path (a copy, conftest.py)."""
    copy_into(outcomes_template, tmp_path)
    return tmp_path


def _outcome(directory: Path, key: str, config: dict | None = None):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(campaigns_partitions.name, [key])
        result = dg.materialize(
            [campaign_outcomes], partition_key=key, instance=instance,
            resources=_resources(directory),
            run_config={"ops": {"metrics__campaign_outcomes": {"config": config or {}}}})
    [materialization] = result.asset_materializations_for_node("metrics__campaign_outcomes")
    return {name: value.value for name, value in materialization.metadata.items()}


def test_the_outcome_of_a_campaign_with_a_control_group(outcomes):
    metadata = _outcome(outcomes, KEY)
    assert metadata["campaign_code"] == CODE and metadata["action"] == ACTION
    assert (metadata["target_users"], metadata["control_users"]) == (100, 50)
    assert (metadata["target_conversions"], metadata["control_conversions"]) == (12, 4)
    assert metadata["target_rate"] == pytest.approx(0.12)
    assert metadata["control_rate"] == pytest.approx(0.08)
    assert metadata["uplift_abs"] == pytest.approx(0.04)
    assert metadata["uplift_abs_ci_low"] < 0.04 < metadata["uplift_abs_ci_high"]
    assert isinstance(metadata["p_value"], float) and metadata["srm_ok"] == "true"
    assert metadata["requested_control_share"] == pytest.approx(1 / 3)
    assert metadata["conversion_chart"].startswith("![conversion per group")
    assert metadata["cumulative_chart"].startswith("![cumulative conversion by day]")
    assert metadata["outcome"]["uplift_abs_ci"] == [metadata["uplift_abs_ci_low"],
                                                    metadata["uplift_abs_ci_high"]]


def test_an_attribution_window_counts_the_day_after_the_end(outcomes):
    metadata = _outcome(outcomes, KEY, {"window_days": 1})
    assert metadata["target_conversions"] == 13  # one more the day after 15 March


def test_a_campaign_without_a_control_group_says_so(outcomes):
    metadata = _outcome(outcomes, NO_CONTROL_KEY)
    assert metadata["control_users"] == 0
    assert "uplift_abs" not in metadata
    assert metadata["reason"].startswith("no control group")


def test_a_campaign_not_in_the_registry_fails_saying_what_to_do(outcomes):
    with pytest.raises(dg.Failure, match="no campaign 'unknown' in the registry"):
        _outcome(outcomes, "unknown")


def test_the_outcome_asset_lists_the_deployed_groups_upstream():
    deps = {dep.asset_key.to_user_string() for dep in campaign_outcomes.specs_by_key[
        CAMPAIGN_OUTCOMES].deps}
    assert deps == {"dssb_ocds/mb22_local_target", "dssb_ocds/mb21_local_control"}


def test_yesterday_rolled_up_warns_until_yesterday_is_materialized(world):
    from campaign_pipelines.defs.metrics.jobs import metrics_freshness_job
    from campaign_pipelines.defs.metrics.schedules import metrics_freshness_schedule

    assert metrics_freshness_schedule.cron_schedule == "0 9 * * *"
    defs = dg.Definitions.merge(_defs(world), dg.Definitions(
        asset_checks=[checks.yesterday_rolled_up], jobs=[metrics_freshness_job]))
    # 02:00 UTC on the day after FIRST is 07:00 there: "yesterday" is FIRST in Almaty.
    as_of = {checks.AS_OF_TAG: datetime.combine(
        FIRST + timedelta(days=1), datetime.min.time(), UTC).replace(hour=2).isoformat()}
    with dg.instance_for_test() as instance:
        def verdict():
            result = defs.resolve_job_def("metrics_freshness_job").execute_in_process(
                instance=instance, tags=as_of)
            [evaluation] = result.get_asset_check_evaluations()
            return evaluation

        missing = verdict()
        assert not missing.passed and missing.severity == dg.AssetCheckSeverity.WARN
        assert f"{FIRST} has no metrics/daily_kpis materialization" in missing.description
        assert _run(world, instance, _day(FIRST - timedelta(days=1))).success  # another day
        assert not verdict().passed
        assert _run(world, instance, _day(FIRST)).success
        assert verdict().passed
