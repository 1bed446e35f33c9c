"""Filter names are checked at admission against the stored reference/vocabulary, by the
sensor and by `campaigns create` alike: a request naming a device the reference data has never
seen is refused before it becomes a campaign partition. No campaign run is started here."""

import json
from pathlib import Path

import dagster as dg
import pytest

from campaign_pipelines import service
from campaign_pipelines.cli import main
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.responses import failure_messages
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.defs.test_sensor import _arrive, _files, _tick
from campaign_pipelines_tests.templates import use_cli_template

BLACKBERRY = request_text(filter_config={"devices": ["android", "blackberry"]})
VALID_DEVICES = "use one of: android, iOS, web"  # the known bank's (bank.py)


def _error(data_dir: Path, name: str) -> dict:
    return json.loads((data_dir / "landing/campaigns/rejected" / f"{name}.error.json").read_text())


def test_the_sensor_rejects_an_unknown_device_before_any_partition_exists(
    location, data_dir, instance
):
    name = "Blackberry Push.json"
    _arrive(data_dir, name, BLACKBERRY)

    result = _tick(data_dir, instance)

    assert result.run_requests == [] and result.dynamic_partitions_requests == []
    assert instance.get_dynamic_partitions(campaigns_partitions.name) == []
    assert _files(data_dir, "rejected") == [name, f"{name}.error.json"]
    [problem] = _error(data_dir, name)["problems"]
    assert problem == {"field": "filter_config.devices[1]",
                       "problem": "unknown name 'blackberry'", "fix": VALID_DEVICES}
    assert not (data_dir / "requests" / "blackberry_push").exists()  # nothing admitted


def test_the_sensor_admits_names_in_any_case(location, data_dir, instance):
    _arrive(data_dir, "ios.json", request_text(filter_config={"devices": ["IOS", "Android"]}))
    assert [r.partition_key for r in _tick(data_dir, instance).run_requests] == ["ios"]


def test_without_a_stored_vocabulary_the_sensor_admits_and_leaves_names_to_the_run(
    data_dir, instance
):
    """A fresh warehouse: reference_refresh_job never ran, so there is nothing to check names
    against without opening the warehouse; filtered_audience checks them in the run."""
    assert not (data_dir / "assets").exists()
    _arrive(data_dir, "early.json", BLACKBERRY)

    result = _tick(data_dir, instance)

    assert [r.partition_key for r in result.run_requests] == ["early"]
    assert not _files(data_dir, "rejected")


@pytest.fixture
def home(data_dir, cli_template, tmp_path, monkeypatch):
    """A DAGSTER_HOME after `campaigns db init` and `campaigns reference refresh`."""
    return use_cli_template(cli_template, tmp_path, monkeypatch)


def test_campaigns_create_refuses_an_unknown_device_naming_the_field(home, data_dir, capsys):
    landing = data_dir / "landing" / "campaigns"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "blackberry.json").write_text(BLACKBERRY, encoding="utf-8")
    capsys.readouterr()

    assert main(["create", str(landing / "blackberry.json")]) == 2

    out = capsys.readouterr().out
    body = json.loads(out[out.index("{"):])
    assert not body["success"] and "filter_config.devices[1]" in body["message"]
    assert body["errors"] == [{"field": "filter_config.devices[1]",
                               "problem": "unknown name 'blackberry'", "fix": VALID_DEVICES}]
    assert _error(data_dir, "blackberry.json")["problems"] == body["errors"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions(campaigns_partitions.name) == []
        assert instance.get_runs() == [] or all(
            r.job_name == "reference_refresh_job" for r in instance.get_runs()
        )


def test_the_run_still_refuses_a_name_admitted_without_the_vocabulary(
    location, data_dir, monkeypatch
):
    """The second line: a name admitted while the vocabulary was missing (or has left it
    since) fails the run's filtered_audience step, naming the field and the valid names."""
    monkeypatch.setattr(service, "stored_vocabulary", lambda io_manager: None)
    path = location.campaign_data.landing().write_atomic("campaigns", "late.json",
                                                         BLACKBERRY.encode())
    registered = service.register(location, path)

    result = service.run_job(location, "audience_job", registered.admitted.key,
                             tags=registered.tags, run_config=registered.run_config)

    assert not result.success
    message = " ".join(failure_messages(result))
    assert "filter_config.devices[1]" in message and "blackberry" in message
    assert VALID_DEVICES in message
