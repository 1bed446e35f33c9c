"""What a tick of the campaign request sensor tells the sensor page: a skip reason that names
each refused file and its error file (or says nothing new arrived), and a cursor that reports
in named fields, reading the first format's cursor too (defs/arrivals.py)."""

import json
from pathlib import Path

import dagster as dg

from campaign_pipelines.core.masking import masked
from campaign_pipelines.defs.arrivals import read_cursor
from campaign_pipelines.defs.audiences.sensors import campaign_requests_sensor
from campaign_pipelines.defs.resources import build_resources
from campaign_pipelines_tests.bank import CUSTOMERS, request_text
from campaign_pipelines_tests.defs.test_sensor import _arrive, _tick

FIRST_FORMAT = "requested=1 rejected=0 waiting=0 in_flight=0"


def _tick_after(data_dir: Path, instance: dg.DagsterInstance, cursor: str) -> dg.SensorResult:
    """``_tick`` with the cursor a previous tick left, as the daemon passes it."""
    resources = build_resources(data_dir)
    needed = campaign_requests_sensor.required_resource_keys
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={k: resources[k] for k in needed})
    return campaign_requests_sensor(context)


def _misspelt() -> str:
    body = json.loads(request_text())
    body["filter_config"]["mau_onyl"] = body["filter_config"].pop("mau_only")
    return json.dumps(body)


def test_a_tick_that_only_refused_files_names_each_file_and_its_error_file(
    location, data_dir, instance
):
    _arrive(data_dir, "bad.json", _misspelt(), age_s=90)
    _arrive(data_dir, "notes.txt", "not a request", age_s=60)

    result = _tick(data_dir, instance)

    assert result.run_requests == []
    said = result.skip_reason.skip_message
    assert said.startswith("refused 2 files, no run: bad.json → "
                           "landing/campaigns/rejected/bad.json.error.json (filter_config.mau_onyl")
    assert "notes.txt → landing/campaigns/rejected/notes.txt.error.json (" in said
    assert (data_dir / "landing/campaigns/rejected/bad.json.error.json").exists()
    report = json.loads(result.cursor)
    assert report["last_tick"] == {"requested": 0, "rejected": 2, "waiting": 0, "in_flight": 0}
    assert report["last_rejected"]["error_file"] == (
        "landing/campaigns/rejected/notes.txt.error.json")


def test_a_refused_name_already_taken_in_rejected_names_its_own_error_file(
    location, data_dir, instance
):
    _arrive(data_dir, "bad.json", "{")
    _tick(data_dir, instance)
    _arrive(data_dir, "bad.json", "{")

    said = _tick(data_dir, instance).skip_reason.skip_message

    [second] = [name for name in sorted(
        p.name for p in (data_dir / "landing/campaigns/rejected").iterdir())
        if name.endswith(".error.json") and name != "bad.json.error.json"]
    assert f"bad.json → landing/campaigns/rejected/{second} (" in said  # its UTC stamp whole


def test_a_long_list_of_refusals_names_three_and_counts_the_rest(location, data_dir, instance):
    for n in range(5):
        _arrive(data_dir, f"note_{n}.txt", "not a request", age_s=90 - n)

    said = _tick(data_dir, instance).skip_reason.skip_message

    assert said.startswith("refused 5 files, no run: note_0.txt → ")
    assert "note_2.txt → " in said and "note_3.txt" not in said
    assert said.endswith("; and 2 more")


def test_a_skip_reason_shows_no_whole_iin_phone_or_email(location, data_dir, instance):
    iin = CUSTOMERS["plain"].iin
    _arrive(data_dir, f"{iin} +7 701 123 45 67 anna.k@bank.kz.txt", "not a request")

    said = _tick(data_dir, instance).skip_reason.skip_message

    assert iin not in said and "anna.k@" not in said and "123 45 67" not in said
    assert f"{iin[:2]}********{iin[-2:]}" in said and "a***@bank.kz" in said


def test_a_tick_with_nothing_new_says_so_and_keeps_the_last_files(location, data_dir, instance):
    _arrive(data_dir, "bad.json", "{")
    first = _tick(data_dir, instance)

    quiet = _tick_after(data_dir, instance, first.cursor)

    assert quiet.skip_reason.skip_message == "no new file in landing/campaigns"
    report = json.loads(quiet.cursor)
    assert report["last_tick"] == {"requested": 0, "rejected": 0, "waiting": 0, "in_flight": 0}
    assert report["last_rejected"] == json.loads(first.cursor)["last_rejected"]


def test_a_tick_with_runs_reports_its_file_and_its_refusals_in_the_cursor(
    location, data_dir, instance
):
    _arrive(data_dir, "promo.json", request_text(), age_s=90)
    _arrive(data_dir, "notes.txt", "not a request", age_s=60)

    result = _tick(data_dir, instance)

    report = json.loads(result.cursor)
    assert report["last_tick"]["requested"] == report["last_tick"]["rejected"] == 1
    assert report["last_requested"]["file"] == "promo.json"
    assert report["last_rejected"]["file"] == "notes.txt"


def test_a_cursor_of_the_first_format_is_still_read(location, data_dir, instance):
    assert read_cursor(FIRST_FORMAT) == {
        "last_tick": {"requested": 1, "rejected": 0, "waiting": 0, "in_flight": 0}}
    assert read_cursor(None) == read_cursor("set by hand") == read_cursor("[1]") == {}
    _arrive(data_dir, "promo.json", request_text())

    result = _tick_after(data_dir, instance, FIRST_FORMAT)

    assert [r.partition_key for r in result.run_requests] == ["promo"]
    assert json.loads(result.cursor)["last_requested"]["file"] == "promo.json"


def test_masking_keeps_run_ids_and_rename_stamps_whole():
    run_id = "12345678-1234-4234-8234-123456789012"
    stamp = "bad.20261130T011732123456Z.json"
    assert masked(f"run {run_id} for {stamp}") == f"run {run_id} for {stamp}"
    assert masked("call +77011234567") == "call +7********67"
    # A digit run stops where a stamp begins; campaign codes identify no one.
    named = "delete-C000000001-20261130T033210127716Z.json"
    assert masked(named) == named
    assert masked("850315300100-20261130T033210127716Z") == "85********00-20261130T033210127716Z"
