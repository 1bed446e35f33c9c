"""Snapshot of what the code location defines, so renames show up in review."""

import pytest

from campaign_pipelines.definitions import defs


@pytest.fixture(scope="module")
def loaded():
    return defs()


def test_asset_keys(loaded):
    assert sorted(k.to_user_string() for k in loaded.resolve_all_asset_keys()) == [
        "audience_split",
        "campaign_blacklist",
        "campaign_codes",
        "campaign_request",
        "dssb_ocds/mb01_camp_dict",
        "dssb_ocds/mb21_local_control",
        "dssb_ocds/mb22_local_target",
        "dssb_ocds/rb3_tr_campaign_dict",
        "filtered_audience",
        "metrics/campaign_outcomes",
        "metrics/daily_kpis",
        "raw_audience",
        "reference/blacklist",
        "reference/customer_profile",
        "reference/devices",
        "reference/mau",
        "reference/products",
        "reference/push_preferences",
        "reference/vocabulary",
        "sequences/email_sequences",
        "sequences/enrollments",
        "sequences/signups",
        "sequences/suppressions",
        "sms/campaign_metrics",
        "sms/campaigns",
        "sms/events",
        "sms/sends",
        "sources/user_activity",
        "spss/fd_rb2_campaigns_users",
        "spss/off_limit_campaigns_users",
        "streaks/assignments",
        "streaks/batch_eligibility",
        "streaks/manual_assignments",
        "streaks/user_state",
    ]


BLOCKING_CHECKS = {
    "audience_split:split_counts_add_up",
    "audience_split:target_control_disjoint",
    "filtered_audience:audience_drawn_from_valid_rows",
    "filtered_audience:iins_are_valid",
    "filtered_audience:no_blacklisted_iins",
    "filtered_audience:no_duplicate_iins",
    "streaks/assignments:batch_never_moves_experiment_users",
    "streaks/user_state:one_state_row_per_user",
}


# Not blocking: a broken kpi_daily row is named, the day's other KPIs stay readable.
KPI_CHECKS = {
    "metrics/daily_kpis:counts_not_negative",
    "metrics/daily_kpis:delivered_and_failed_within_sent",
    "metrics/daily_kpis:one_row_per_day_campaign_channel",
    "metrics/daily_kpis:sent_within_queued",
    "metrics/daily_kpis:yesterday_rolled_up",
}


def test_asset_checks_and_which_block(loaded):
    graph = loaded.resolve_asset_graph()
    checks = {f"{k.asset_key.to_user_string()}:{k.name}": k for k in graph.asset_check_keys}
    assert set(checks) == BLOCKING_CHECKS | {"streaks/user_state:every_streak_is_known",
                                             *KPI_CHECKS}
    blocking = {name for name, key in checks.items() if graph.get_check_spec(key).blocking}
    assert blocking == BLOCKING_CHECKS


def test_jobs_schedules_sensors(loaded):
    jobs = sorted(j.name for j in loaded.resolve_all_job_defs() if not j.name.startswith("__"))
    assert jobs == [
        "apply_commands_job",
        "audience_job",
        "campaign_job",
        "metrics_daily_job",
        "metrics_freshness_job",
        "reference_refresh_job",
        "send_due_emails_job",
        "sequence_admission_job",
        "sms_campaign_admission_job",
        "sms_events_job",
        "sms_runner_job",
        "streak_manual_assignment_job",
        "streaks_daily_job",
    ]
    schedules = {s.name: (s.cron_schedule, s.execution_timezone) for s in loaded.schedules}
    assert schedules == {
        "metrics_daily_schedule": ("30 6 * * *", "Asia/Almaty"),
        "metrics_freshness_schedule": ("0 9 * * *", "Asia/Almaty"),
        "reference_refresh_schedule": ("0 5 * * *", "Asia/Almaty"),
        "sms_runner_schedule": ("* * * * *", "Asia/Almaty"),
        "streaks_daily_schedule": ("0 6 * * *", "Asia/Almaty"),
    }
    # A run-status sensor watches runs and targets no job: job_name would raise for it.
    sensors = {s.name: (type(s).__name__, [t.job_name for t in s.targets]) for s in loaded.sensors}
    assert sensors == {
        "campaign_requests_sensor": ("SensorDefinition", ["campaign_job"]),
        "command_arrivals_sensor": ("SensorDefinition", ["apply_commands_job"]),
        "send_due_emails_sensor": ("SensorDefinition", ["send_due_emails_job"]),
        "sequence_arrivals_sensor": ("SensorDefinition", ["sequence_admission_job"]),
        "sms_campaign_arrivals_sensor": ("SensorDefinition", ["sms_campaign_admission_job"]),
        "sms_event_arrivals_sensor": ("SensorDefinition", ["sms_events_job"]),
        "streak_assignment_failures_sensor": ("RunStatusSensorDefinition", []),
        "streak_assignments_sensor": ("SensorDefinition", ["streak_manual_assignment_job"]),
    }


def test_a_command_loads_the_definitions_without_a_dagster_warning(monkeypatch, tmp_path):
    """What every `campaigns` command loads (service.loaded_definitions, its jobs bound) says
    nothing on stderr: Dagster's beta warning about sensors' `owners` is filtered where the
    code location binds them (definitions.py), for every process that loads it."""
    import warnings

    import dagster as dg

    from campaign_pipelines import service
    from campaign_pipelines.defs.settings import read_settings

    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        service.loaded_definitions(read_settings()).resolve_job_def("campaign_job")
    assert [str(w.message) for w in caught if issubclass(w.category, dg.BetaWarning)] == []
