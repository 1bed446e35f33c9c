"""Snapshot of what the code location defines, so renames show up in review."""

from campaign_pipelines.definitions import defs


def _loaded():
    return defs()


def test_asset_keys():
    keys = sorted(k.to_user_string() for k in _loaded().resolve_all_asset_keys())
    assert [k for k in keys if not k.startswith("streaks/")] == [
        "audience_split",
        "campaign_codes",
        "campaign_request",
        "dssb_ocds/mb01_camp_dict",
        "dssb_ocds/mb21_local_control",
        "dssb_ocds/mb22_local_target",
        "dssb_ocds/rb3_tr_campaign_dict",
        "filtered_audience",
        "raw_audience",
        "reference/blacklist",
        "reference/customer_profile",
        "reference/devices",
        "reference/mau",
        "reference/products",
        "reference/push_preferences",
        "reference/vocabulary",
        "spss/fd_rb2_campaigns_users",
        "spss/off_limit_campaigns_users",
    ]


def test_asset_checks_are_blocking():
    graph = _loaded().resolve_asset_graph()
    checks = {f"{k.asset_key.to_user_string()}:{k.name}": k for k in graph.asset_check_keys}
    assert {c for c in checks if not c.startswith("streaks/")} == {
        "filtered_audience:iins_are_valid",
        "filtered_audience:no_duplicate_iins",
        "filtered_audience:no_blacklisted_iins",
        "filtered_audience:audience_drawn_from_valid_rows",
        "audience_split:target_control_disjoint",
        "audience_split:split_counts_add_up",
    }
    for key in checks.values():
        if not key.asset_key.to_user_string().startswith("streaks/"):
            assert graph.get_check_spec(key).blocking, key


def test_jobs_schedules_sensors():
    loaded = _loaded()
    jobs = sorted(j.name for j in loaded.resolve_all_job_defs() if not j.name.startswith("__"))
    assert {"audience_job", "campaign_job", "reference_refresh_job"} <= set(jobs)
    schedules = {s.name: (s.cron_schedule, s.execution_timezone) for s in loaded.schedules}
    assert schedules["reference_refresh_schedule"] == ("0 5 * * *", "Asia/Almaty")
    sensors = {s.name: s.job_name for s in loaded.sensors}
    assert sensors["campaign_requests_sensor"] == "campaign_job"
