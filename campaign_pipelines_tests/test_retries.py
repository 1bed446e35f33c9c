"""The one retry layer, end to end with real parts: each retried operation gets exactly one
transient error and succeeds on its second attempt, and a persistent transient error costs
exactly the attempts the README's table "Retries: who retries what, and the worst case" states
(the last test holds that table to the code).

Faults are injected where they happen for real: a recording fake Oracle connection raising
python-oracledb's own DPY-4011, a loopback HTTP server answering 503. Attempts are counted from
Dagster's event log (STEP_RESTARTED) and from what the fake database or the server saw, never
from a counter inside the code under test; the waits between them from the same log
(STEP_UP_FOR_RETRY, the seconds Dagster set for each), and not spent (``retry_clock``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
import stamina

from campaign_pipelines.adapters.journey_config import (
    DEFAULT_CONFIG,
    GET_ATTEMPTS,
    GET_WAIT_INITIAL_S,
    load_config_file,
)
from campaign_pipelines.adapters.reference_config import default_config_path
from campaign_pipelines.adapters.warehouse.duckdb_lock import DEFAULT_LOCK_TIMEOUT_S
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.requests import parse_request
from campaign_pipelines.defs.deployment import assets as deployment_assets
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.reference import assets as reference_assets
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    DuckDBWarehouseResource,
    JourneyConfigResource,
    WarehouseResource,
)
from campaign_pipelines.defs.retries import (
    RETRY_TAGS,
    RUN_RETRIES,
    WAREHOUSE_RETRY,
    attempts,
    waits_s,
)
from campaign_pipelines.defs.streaks import assets as streak_assets
from campaign_pipelines.defs.streaks.run_failures import streak_assignment_failures_sensor
from campaign_pipelines.demo.user_activity import write_user_activity
from campaign_pipelines_tests.adapters.oracle_fake import FakeOracle, connection_closed
from campaign_pipelines_tests.bank import request_text
from campaign_pipelines_tests.streaks.test_defs import (
    RUN_RETRIES_ON,
    landed,
    manual_job,
    requested_run,
)
from campaign_pipelines_tests.streaks.test_journey_config_service import TOKEN, ConfigService

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Retries: who retries what, and the worst case"
_FAKES: dict[str, FakeOracle] = {}


class FakeOracleWarehouseResource(WarehouseResource):
    """The Oracle adapter over a recording fake connection (``_FAKES[fake]``)."""

    fake: str

    def adapter(self) -> OracleWarehouse:
        return OracleWarehouse(dsn="db:1521/free", user="campaigns", password="-",
                               connect_fn=_FAKES[self.fake].connect)

    def deployment(self) -> OracleDeployment:
        return OracleDeployment(self.adapter())


@pytest.fixture
def oracle(request) -> tuple[FakeOracle, FakeOracleWarehouseResource]:
    db = FakeOracle()
    db.returns("all_tables", pa.table({
        "OWNER": [t.schema.upper() for t in tables.PROJECT_TABLES],
        "TABLE_NAME": [t.name.upper() for t in tables.PROJECT_TABLES],
    }))
    _FAKES[request.node.name] = db
    yield db, FakeOracleWarehouseResource(
        fake=request.node.name, reference_config_path=str(default_config_path("oracle")))
    del _FAKES[request.node.name]


class JumpingClock:
    """Time for Dagster's plan execution that jumps over a sleep instead of spending it."""

    def __init__(self) -> None:
        self.skipped_s = 0.0

    def time(self) -> float:
        return time.time() + self.skipped_s

    def sleep(self, seconds: float) -> None:
        self.skipped_s += seconds


@pytest.fixture
def retry_clock(monkeypatch) -> JumpingClock:
    """Dagster 1.13 waits out a step's retry delay in ``ActiveExecution.sleep_til_ready``, with
    the ``time`` module of ``dagster._core.execution.plan.active``: that module gets a clock that
    jumps, so a test of the policy's 1 + 3 + 7 s reads those waits from the event log
    (``retry_waits_s``) without spending 11 s on them. (Should Dagster move that wait, the
    patch fails here, loudly, rather than the waits going unnoticed.)"""
    from dagster._core.execution.plan import active

    clock = JumpingClock()
    monkeypatch.setattr(active, "time", clock)
    return clock


def retry_waits_s(result: dg.ExecuteInProcessResult, step: str) -> list[float]:
    """The wait Dagster set before each retry of ``step``, from the run's event log."""
    return [float(e.event_specific_data.seconds_to_wait) for e in result.all_events
            if e.step_key == step and e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]


def step_attempts(result: dg.ExecuteInProcessResult, step: str) -> int:
    """How many times ``step`` ran, from the run's event log."""
    restarted = [e for e in result.all_events
                 if e.step_key == step and e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    return 1 + len(restarted)


# --- reference extraction step -------------------------------------------------------------


def _extract_devices(resource, instance) -> dg.ExecuteInProcessResult:
    return dg.materialize([reference_assets.reference_devices], instance=instance,
                          resources={"warehouse": resource, "io_manager": dg.mem_io_manager},
                          raise_on_error=False)


def test_reference_extraction_retries_one_dropped_connection(oracle, retry_clock):
    db, resource = oracle
    db.returns("client_devices", pa.table({"IIN": ["900101300123"], "DEVICE": ["ios"]}))
    db.fails("client_devices", connection_closed(), times=1)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _extract_devices(resource, instance)
    assert result.success
    assert step_attempts(result, "reference__devices") == 2
    assert retry_waits_s(result, "reference__devices") == [1]
    assert len(db.executed("client_devices")) == 2


def test_reference_extraction_gives_up_after_4_attempts(oracle, retry_clock):
    db, resource = oracle
    db.fails("client_devices", connection_closed(), times=100)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _extract_devices(resource, instance)
    assert not result.success
    assert step_attempts(result, "reference__devices") == 4 == attempts(WAREHOUSE_RETRY)
    assert retry_waits_s(result, "reference__devices") == [1, 3, 7] == waits_s(WAREHOUSE_RETRY)
    assert retry_clock.skipped_s >= 11 - 0.5  # waited for, on the jumping clock
    assert len(db.executed("client_devices")) == 4  # one query per attempt, no inner loop


# --- deployment step ----------------------------------------------------------------------


class _Upstream(dg.IOManager):
    """The deploy step's input (the request with its codes), as the real IO manager would load
    it; outputs are not stored."""

    def __init__(self, values: dict[str, object]):
        self.values = values

    def load_input(self, context: dg.InputContext) -> object:
        return self.values[context.asset_key.path[-1]]

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        pass


def _deploy_dictionary(resource, instance) -> dg.ExecuteInProcessResult:
    asset = deployment_assets.mb01_camp_dict
    instance.add_dynamic_partitions(campaigns_partitions.name, ["spring-push"])
    coded = tables.CodedCampaign(request=parse_request(request_text()),
                                 codes=CampaignCodes(campaign_code="C000000042"))
    upstream = _Upstream({"campaign_codes": coded})
    specs = [dg.AssetSpec(key, partitions_def=campaigns_partitions)
             for key in asset.keys_by_input_name.values()]
    return dg.materialize(
        [asset, *specs], instance=instance, partition_key="spring-push", raise_on_error=False,
        selection=[asset.key],
        resources={"warehouse": resource,
                   "io_manager": dg.IOManagerDefinition.hardcoded_io_manager(upstream)})


def test_deployment_step_retries_one_dropped_connection(oracle, retry_clock):
    db, resource = oracle
    db.fails("DELETE FROM dssb_ocds.mb01_camp_dict", connection_closed(), times=1)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _deploy_dictionary(resource, instance)
    assert result.success, result.all_events
    assert step_attempts(result, "dssb_ocds__mb01_camp_dict") == 2
    assert retry_waits_s(result, "dssb_ocds__mb01_camp_dict") == [1]
    assert db.events().count("commit") == 1 and db.events().count("rollback") == 1


def test_deployment_step_gives_up_after_4_attempts(oracle, retry_clock):
    db, resource = oracle
    db.fails("DELETE FROM dssb_ocds.mb01_camp_dict", connection_closed(), times=100)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _deploy_dictionary(resource, instance)
    assert not result.success
    assert step_attempts(result, "dssb_ocds__mb01_camp_dict") == 4
    assert retry_waits_s(result, "dssb_ocds__mb01_camp_dict") == [1, 3, 7]
    assert retry_clock.skipped_s >= 11 - 0.5
    assert len(db.executed("DELETE FROM dssb_ocds.mb01_camp_dict")) == 4
    assert "commit" not in db.events()


def test_a_permanent_deployment_error_is_not_retried(oracle):
    from campaign_pipelines_tests.adapters.oracle_fake import ora_error

    db, resource = oracle
    db.fails("DELETE FROM dssb_ocds.mb01_camp_dict", ora_error(942, "table does not exist"))
    with dg.DagsterInstance.ephemeral() as instance:
        result = _deploy_dictionary(resource, instance)
    assert not result.success
    assert step_attempts(result, "dssb_ocds__mb01_camp_dict") == 1


# --- journey config: a streak step, and the CLI -----------------------------------------


@pytest.fixture
def service():
    with ConfigService(load_config_file(DEFAULT_CONFIG).to_document()).running() as server:
        yield server


@pytest.fixture
def streak_resources(tmp_path: Path, service) -> dict:
    write_user_activity(tmp_path / "warehouse.duckdb", users=500)
    return {
        "warehouse": DuckDBWarehouseResource(
            database=str(tmp_path / "warehouse.duckdb"),
            reference_config_path=str(default_config_path("duckdb"))),
        "campaign_data": CampaignDataResource(data_dir=str(tmp_path)),
        "io_manager": ParquetIOManager(base_dir=str(tmp_path / "assets")),
        "journey_config": JourneyConfigResource(source="http", url=service.url, token=TOKEN),
    }


def test_streak_step_retries_one_503_from_the_config_service(streak_resources, service,
                                                            retry_clock):
    service.get_failures = 1
    daily = [streak_assets.user_activity, streak_assets.batch_eligibility,
             streak_assets.assignments, streak_assets.user_state]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(daily, resources=streak_resources, instance=instance)
    assert result.success
    assert step_attempts(result, "streaks__assignments") == 2
    assert retry_waits_s(result, "streaks__assignments") == [1]
    assert service.gets == 2


@pytest.fixture
def http_cli(bare_home, monkeypatch, service):
    """The command over the HTTP config service, with stamina's waits off and its attempts
    left as the code sets them (``cap``: at most 100, so 3 stays 3). The waits themselves are
    asserted once, in test_journey_config_service."""
    monkeypatch.setenv("CAMPAIGN_JOURNEY_CONFIG", "http")
    monkeypatch.setenv("JOURNEY_CONFIG_URL", service.url)
    monkeypatch.setenv("JOURNEY_CONFIG_TOKEN", TOKEN)
    with stamina.set_testing(True, attempts=100, cap=True):
        yield service


REGISTER = ["streaks", "register", "--name", "fresh_streak", "--id", "900", "--type", "streak",
            "--banner", "Fresh", "--subtitle", "Seven days", "--next", "NA"]


def test_cli_get_retries_one_503(http_cli, capsys):
    from campaign_pipelines.cli import main

    http_cli.get_failures = 1
    assert main(REGISTER) == 0, capsys.readouterr()
    assert http_cli.gets == 2 and http_cli.posts == []


def test_cli_get_gives_up_after_3_gets(http_cli, capsys):
    from campaign_pipelines.cli import main

    http_cli.get_failures = 100
    assert main(REGISTER) == 1
    output = capsys.readouterr().out
    assert "answered HTTP 503 (3 attempts); nothing was changed" in output
    assert http_cli.gets == 3 and http_cli.posts == []


# --- a streak file: its step's attempts, or 3 runs when runs die, then rejected -----------


def _failure_sensor_sees(result_or_run_id, instance, streak_resources, event=None) -> None:
    run = instance.get_run_by_id(result_or_run_id)
    context = dg.build_run_status_sensor_context(
        sensor_name="streak_assignment_failures_sensor",
        dagster_event=event, dagster_instance=instance, dagster_run=run,
        resources={"campaign_data": streak_resources["campaign_data"]},
    ).for_run_failure()
    streak_assignment_failures_sensor(context)


def test_a_streak_file_whose_step_keeps_failing_is_rejected_after_one_run(
    streak_resources, service, retry_clock
):
    """The config service stays down: the step makes its 4 attempts; the run failed in a step,
    so Dagster will not run it again (the step's policy was that layer) and the failure sensor
    rejects the file at once, naming the step's own error."""
    zone = streak_resources["campaign_data"].landing()
    path = landed(zone, "moves.csv", b"user_id,streak\n1000001,30x5_streak\n")
    with dg.instance_for_test(overrides=RUN_RETRIES_ON) as instance:
        request = requested_run(streak_resources, instance)
        service.get_failures = 1_000
        result = dg.materialize(
            [streak_assets.manual_assignments], resources=streak_resources,
            instance=instance, raise_on_error=False, run_config=request.run_config,
            tags={**request.tags, "dagster/run_key": request.run_key})
        assert not result.success
        assert step_attempts(result, "streaks__manual_assignments") == attempts(WAREHOUSE_RETRY)
        assert retry_waits_s(result, "streaks__manual_assignments") == waits_s(WAREHOUSE_RETRY)
        assert instance.get_run_by_id(result.run_id).tags["dagster/will_retry"] == "false"
        _failure_sensor_sees(result.run_id, instance, streak_resources,
                             result.get_run_failure_event())
    assert not path.exists()
    rejected = zone.root / "assignments" / "rejected"
    error = json.loads((rejected / "moves.csv.error.json").read_text())
    problem = error["problems"][0]["problem"]
    assert f"1 runs applying this file failed; the last was run {result.run_id}" in problem
    assert "answered HTTP 503" in problem
    assert (rejected / "moves.csv").exists()


def test_a_streak_file_whose_runs_die_gets_3_runs_then_is_rejected(streak_resources):
    """Runs that fail outside their steps (a killed worker) are Dagster's run retries' to
    repeat: runs with retry numbers 0 and 1 will be retried and leave the file; the failure of
    run 2 will not, and rejects it."""
    zone = streak_resources["campaign_data"].landing()
    path = landed(zone, "moves.csv", b"user_id,streak\n1000001,30x5_streak\n")
    job = manual_job(streak_resources)
    verdicts = []
    with dg.instance_for_test(overrides=RUN_RETRIES_ON) as instance:
        request = requested_run(streak_resources, instance)
        first = previous = None
        for retry_number in range(RUN_RETRIES + 1):
            # as the retry daemon launches them: each the child of the one before
            retry = {"dagster/retry_number": str(retry_number), "dagster/root_run_id": first,
                     "dagster/parent_run_id": previous} if retry_number else {}
            run = instance.create_run_for_job(
                job, run_config=request.run_config, tags={**request.tags, **retry},
                root_run_id=first, parent_run_id=previous)
            first, previous = first or run.run_id, run.run_id
            failure = instance.report_run_failed(run, "the run worker was killed")
            verdicts.append(instance.get_run_by_id(run.run_id).tags["dagster/will_retry"])
            _failure_sensor_sees(run.run_id, instance, streak_resources, failure)
            assert path.exists() == (retry_number < RUN_RETRIES)
    assert verdicts == ["true", "true", "false"]
    error = json.loads((zone.root / "assignments" / "rejected" / "moves.csv.error.json")
                       .read_text())
    assert f"{RUN_RETRIES + 1} runs applying this file failed" in error["problems"][0]["problem"]


# --- the README's table says what the code does -------------------------------------------


def readme_table() -> dict[str, dict[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip().lower() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def _row(table: dict[str, dict[str, str]], starts: str) -> dict[str, str]:
    [row] = [row for name, row in table.items() if name.startswith(starts)]
    return row


def _seconds(cell: str) -> list[float]:
    return [float(number) for number in re.findall(r"\d+(?:\.\d+)?", cell)]


def test_the_readme_table_states_the_numbers_of_the_code():
    table = readme_table()
    step_policies = {
        "Deployment step": deployment_assets.mb01_camp_dict.op.retry_policy,
        "Reference extraction step": reference_assets.reference_devices.op.retry_policy,
        "Streak step": streak_assets.assignments.op.retry_policy,
    }
    for name, policy in step_policies.items():
        assert policy == WAREHOUSE_RETRY, name
        row = _row(table, name)
        assert int(row["attempts"]) == attempts(WAREHOUSE_RETRY), name
        assert _seconds(row["waits (s)"]) == waits_s(WAREHOUSE_RETRY), name
        assert f"{sum(waits_s(WAREHOUSE_RETRY)):g} s" in row["worst case"], name
    cli = _row(table, "Journey-config GET from the CLI")
    assert int(cli["attempts"]) == GET_ATTEMPTS
    assert _seconds(cli["waits (s)"]) == [GET_WAIT_INITIAL_S * 2**n
                                          for n in range(GET_ATTEMPTS - 1)]
    streak_file = _row(table, "Streak file")
    assert int(streak_file["attempts"]) == RUN_RETRIES + 1
    assert f"{RUN_RETRIES + 1} runs, then `rejected/`" in streak_file["worst case"]
    assert f"{attempts(WAREHOUSE_RETRY)} attempts in 1 run" in streak_file["worst case"]
    assert RETRY_TAGS["dagster/retry_on_asset_or_op_failure"] == "false"
    for once in ("Journey-config POST", "Statement inside an adapter", "Code allocation"):
        assert _row(table, once)["attempts"] == "1", once
    lock = _row(table, "DuckDB file lock")
    assert f"{DEFAULT_LOCK_TIMEOUT_S:g} s" in lock["worst case"]
