"""Every schedule of the loaded code location, evaluated as the daemon would at its tick: what
it runs, when (in the bank's time zone) and with which run request."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from campaign_pipelines.core.registry import BANK_TIMEZONE

# name -> (job, local time of the daily tick, asset keys the job materializes)
EXPECTED = {
    "reference_refresh_schedule": (
        "reference_refresh_job", "05:00",
        {"reference/blacklist", "reference/devices", "reference/push_preferences",
         "reference/mau", "reference/products", "reference/customer_profile",
         "reference/vocabulary"},
    ),
    "streaks_daily_schedule": (
        "streaks_daily_job", "06:00",
        {"streaks/batch_eligibility", "streaks/assignments", "streaks/user_state"},
    ),
}
# Schedules that tick more often than daily, tested in their domain's tests
# (campaign_pipelines_tests/sms/defs/test_runner.py).
FREQUENT = {"sms_runner_schedule"}
# Schedules of one partition per tick, tested in their domain's tests
# (campaign_pipelines_tests/metrics/test_defs.py: yesterday's metrics/daily_kpis).
PARTITIONED = {"metrics_daily_schedule"}
# Schedules of a check alone (campaign_pipelines_tests/metrics/test_defs.py).
CHECKING = {"metrics_freshness_schedule"}
# A late-November night in Almaty: 23:00 UTC is 04:00 there, before either tick.
NOW = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)


def _loaded() -> dg.Definitions:
    from campaign_pipelines.definitions import defs

    return defs()


@pytest.fixture
def loaded(data_dir) -> dg.Definitions:
    return _loaded()


def test_the_location_has_exactly_the_expected_schedules(loaded):
    assert sorted(s.name for s in loaded.schedules) == sorted([*EXPECTED, *FREQUENT,
                                                              *PARTITIONED, *CHECKING])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_schedule_ticks_daily_at_its_local_hour_and_requests_its_whole_job(loaded, name):
    job_name, local_time, keys = EXPECTED[name]
    schedule = loaded.resolve_schedule_def(name)
    assert schedule.job_name == job_name
    assert schedule.execution_timezone == BANK_TIMEZONE
    assert schedule.description  # STYLE.md: every schedule says what it is for

    ticks = cron_string_iterator(NOW.timestamp(), schedule.cron_schedule,
                                 schedule.execution_timezone)
    first, second = next(ticks), next(ticks)
    local = first.astimezone(ZoneInfo(BANK_TIMEZONE))
    assert local.strftime("%H:%M") == local_time
    assert first > NOW and (second - first).total_seconds() == 24 * 3600

    context = dg.build_schedule_context(scheduled_execution_time=first)
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key is None  # unpartitioned jobs: one run of the whole job
    assert request.run_config == {}
    assert request.tags == {"dagster/schedule_name": name}
    assert request.job_name in (None, job_name)  # None: the schedule's own job

    job = loaded.resolve_job_def(job_name)
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == keys


def test_the_streaks_run_after_the_reference_refresh(loaded):
    ticks = {
        name: next(cron_string_iterator(NOW.timestamp(), s.cron_schedule, s.execution_timezone))
        for name, s in ((s.name, s) for s in loaded.schedules)
    }
    assert ticks["reference_refresh_schedule"] < ticks["streaks_daily_schedule"]


def test_with_duckdb_both_schedules_start_running(loaded):
    for name in EXPECTED:
        status = loaded.resolve_schedule_def(name).default_status
        assert status == dg.DefaultScheduleStatus.RUNNING, name


def test_with_oracle_the_streak_schedule_starts_stopped(data_dir, monkeypatch):
    """Streak state lives in the DuckDB warehouse: with Oracle the daily streak run would fail
    every morning, so its schedule starts stopped; the reference refresh still runs."""
    monkeypatch.setenv("CAMPAIGN_WAREHOUSE", "oracle")
    monkeypatch.setenv("ORACLE_DSN", "db.invalid:1521/FREEPDB1")
    monkeypatch.setenv("ORACLE_USER", "campaigns")
    monkeypatch.setenv("ORACLE_PASSWORD", "not-a-secret")
    loaded = _loaded()
    assert (loaded.resolve_schedule_def("streaks_daily_schedule").default_status
            == dg.DefaultScheduleStatus.STOPPED)
    assert (loaded.resolve_schedule_def("reference_refresh_schedule").default_status
            == dg.DefaultScheduleStatus.RUNNING)
