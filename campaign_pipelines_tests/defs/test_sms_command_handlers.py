"""sms_pause, sms_resume and sms_cancel applied to a real SMS store in a DuckDB file: the
lifecycle transition happens, a repeat changes nothing and is no error, and a campaign nobody
knows or a transition its status forbids is refused naming the field."""

from datetime import UTC, datetime

import dagster as dg
import orjson
import pytest

from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.commands import COMMAND_NAMES, parse_command
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.defs.commands.answers import Resources
from campaign_pipelines.defs.commands.jobs import HANDLERS
from campaign_pipelines.defs.commands.sms_handlers import SMS_HANDLERS, apply_sms_command
from campaign_pipelines.defs.resources import CampaignDataResource, DuckDBWarehouseResource
from campaign_pipelines_tests.defs.test_commands import apply, land, tick

NOW = datetime.now(UTC)
CAMPAIGN = b"""\
name: dec-cashback
template: "Cashback 5% in December. {{ stop_hint }}"
sender: MyBank
start_at: "2026-12-01T09:00:00+05:00"
prospects:
  campaign_code: C000000123
"""


@pytest.fixture
def setup(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    store = SmsStore(DuckDBWarehouse(database))
    store.put_campaign(parse_campaign(CAMPAIGN, "dec.yaml", now=NOW, stop_hint="STOP: 7575"),
                       NOW)
    resources = Resources(
        DuckDBWarehouseResource(database=str(database),
                                reference_config_path=str(default_config_path("duckdb"))),
        CampaignDataResource(data_dir=str(tmp_path)))
    return store, resources


def command(action: str, campaign: str = "dec-cashback"):
    return parse_command(orjson.dumps({"command": f"sms_{action}", "campaign": campaign,
                                       "requested_at": NOW.isoformat()}))


def test_every_sms_command_has_this_handler():
    assert set(SMS_HANDLERS) == {name for name in COMMAND_NAMES if name.startswith("sms_")}
    assert set(SMS_HANDLERS.values()) == {apply_sms_command}


def test_pause_resume_and_a_repeated_pause_move_an_active_campaign(setup):
    store, resources = setup
    store.apply_command("dec-cashback", "start", NOW)
    paused = apply_sms_command(command("pause"), resources)
    assert (paused.outcome, paused.campaign, paused.problems) == ("paused", "dec-cashback", [])
    assert store.status("dec-cashback") == "Paused"
    again = apply_sms_command(command("pause"), resources)
    assert (again.outcome, again.problems) == ("already_paused", [])
    resumed = apply_sms_command(command("resume"), resources)
    assert (resumed.outcome, resumed.details) == ("resumed", {"status": "Active"})
    assert store.status("dec-cashback") == "Active"


def test_cancel_is_final_and_a_later_resume_is_refused_naming_the_command(setup):
    store, resources = setup
    assert apply_sms_command(command("cancel"), resources).outcome == "cancelled"
    assert apply_sms_command(command("cancel"), resources).outcome == "already_cancelled"
    refused = apply_sms_command(command("resume"), resources)
    assert refused.outcome == "refused" and store.status("dec-cashback") == "Cancelled"
    [problem] = refused.problems
    assert problem["field"] == "command" and "Cancelled" in problem["problem"]


def test_a_pause_of_a_scheduled_campaign_is_refused_with_the_lifecycle_s_fix(setup):
    _, resources = setup
    [problem] = apply_sms_command(command("pause"), resources).problems
    assert problem["field"] == "command" and "cancel a Scheduled one" in problem["fix"]


def test_a_campaign_nobody_knows_is_refused_naming_the_campaign(setup):
    _, resources = setup
    refused = apply_sms_command(command("pause", "no-such-campaign"), resources)
    assert refused.outcome == "refused"
    [problem] = refused.problems
    assert problem["field"] == "campaign" and "no-such-campaign" in problem["problem"]


def test_command_files_as_the_ingress_writes_them_are_applied_in_arrival_order(setup, tmp_path):
    store, resources = setup
    assert set(SMS_HANDLERS) <= set(HANDLERS)  # registered: the files below are applied
    store.apply_command("dec-cashback", "start", NOW)
    files = [land_sms(tmp_path, "pause", "dec-cashback", age_s=90),
             land_sms(tmp_path, "pause", "autumn-promo", age_s=80),
             land_sms(tmp_path, "resume", "dec-cashback", age_s=70),
             land_sms(tmp_path, "cancel", "dec-cashback", age_s=60)]
    job_resources = {"warehouse": resources.warehouse, "campaign_data": resources.campaign_data}
    with dg.instance_for_test() as instance:
        [request] = tick(job_resources, instance).run_requests
        result, reports = apply(request, job_resources, instance)
    assert result.success
    assert [(r["command"], r["campaign"], r["outcome"]) for r in reports] == [
        ("sms_pause", "dec-cashback", "paused"), ("sms_pause", "autumn-promo", "refused"),
        ("sms_resume", "dec-cashback", "resumed"), ("sms_cancel", "dec-cashback", "cancelled")]
    assert store.status("dec-cashback") == "Cancelled"
    folder = files[0].parent
    assert sorted(p.name for p in (folder / "archive").iterdir()) == sorted(
        f.name for f in files if "autumn" not in f.name)
    error = orjson.loads((folder / "rejected" / f"{files[1].name}.error.json").read_bytes())
    assert error["problems"][0]["field"] == "campaign"


def land_sms(data_dir, action: str, campaign: str, age_s: float):
    """A command file as POST /sms/campaigns/{name}/{action} writes it (name and body)."""
    now = datetime.now(UTC)
    body = {"command": f"sms_{action}", "campaign": campaign, "requested_at": now.isoformat()}
    name = f"sms_{action}-{campaign}-{now.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    return land(data_dir, name, orjson.dumps(body), age_s)
