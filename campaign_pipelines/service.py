"""Operations the `campaigns` command performs through Dagster.

Runs go through the Dagster instance (``DAGSTER_HOME``), so every campaign built from the
command line appears in the UI's run history like the ones the sensor starts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from campaign_pipelines import runs
from campaign_pipelines.adapters.admission import REQUEST_SUFFIXES, Admitted, admit_file
from campaign_pipelines.adapters.landing_arrivals import Arrival
from campaign_pipelines.core.deployment import CAMPAIGN_REGISTRY, DEPLOYMENT_TABLES
from campaign_pipelines.core.registry import created_message, deployment_result
from campaign_pipelines.core.requests import CampaignRequest, RequestError
from campaign_pipelines.defs.arrivals import ARRIVAL_TAG
from campaign_pipelines.defs.audiences.admission import campaign_run_config, campaign_run_tags
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import (
    CampaignDataResource,
    JourneyConfigResource,
    WarehouseResource,
)

if TYPE_CHECKING:
    from dagster._core.execution.job_execution_result import JobExecutionResult


@dataclass(frozen=True)
class Location:
    """The loaded code location with its resources, and the instance runs are recorded in."""

    defs: dg.Definitions
    instance: dg.DagsterInstance

    @property
    def campaign_data(self) -> CampaignDataResource:
        return self.resource("campaign_data")

    @property
    def warehouse(self) -> WarehouseResource:
        return self.resource("warehouse")

    @property
    def journey_config(self) -> JourneyConfigResource:
        return self.resource("journey_config")

    def resource(self, key: str) -> Any:
        """The resource as a run receives it: config processed by Dagster, so ``dg.EnvVar``
        fields hold the variable's value, read now. SettingMissing names an unset variable."""
        try:
            with dg.build_resources({key: self.defs.resources[key]}) as built:
                return getattr(built, key)
        except dg.DagsterInvalidConfigError as error:
            raise SettingMissing(key, error) from None


class SettingMissing(RuntimeError):
    """A resource's setting could not be resolved, typically an environment variable not set."""

    def __init__(self, key: str, error: dg.DagsterInvalidConfigError):
        texts = [e.message for e in error.errors] or [str(error)]
        unset = [m for t in texts for m in _UNSET_VARIABLE.findall(t)]
        if unset:
            names = list(dict.fromkeys(unset))
            them = "it" if len(names) == 1 else "them"
            problems = "; ".join(f"{name} is not set" for name in names)
            message = f"{problems}: the {key} resource reads {them} through dg.EnvVar; set {them}"
        else:  # Dagster appends its own stack trace to each message: keep the sentence
            message = f"the {key} resource's settings: " + "; ".join(
                t.split("\n\nStack Trace")[0].strip() for t in texts
            )
        super().__init__(message)


_UNSET_VARIABLE = re.compile(r'environment variable "([^"]+)" which is not set')


@dataclass(frozen=True)
class Registered:
    """An admitted request and what its run must carry (adapters/admission.py)."""

    admitted: Admitted
    run_config: dict
    tags: dict[str, str]


def register(
    location: Location, path: Path, *, dry_run: bool = False, replace: bool = False
) -> Registered:
    """Admits the request file and adds its campaign partition; RequestError if it cannot run.

    The same admission as the sensor. For a file inside landing/campaigns, a refusal moves it
    to rejected/ and the run takes it into archive/. A dry run claims nothing and leaves the
    file pending: the sensor (or a later create) still deploys it.
    """
    data = location.campaign_data
    landing = data.landing()
    in_landing = not dry_run and path.resolve().parent == landing.folder("campaigns").resolve()
    identity = _identify(path) if in_landing else None
    try:
        if identity is not None:
            _refuse_if_in_flight(location, path, identity[1])
        admitted = admit_file(
            path,
            store=data.requests(),
            blacklist_sources=location.warehouse.reference_config().blacklist_sources,
            uploads_dir=data.uploads_dir(),
            replace=replace,
            dry_run=dry_run,
        )
    except RequestError as error:
        if in_landing:
            landing.reject(path, {"problems": error.problems})
        raise
    location.instance.add_dynamic_partitions(campaigns_partitions.name, [admitted.key])
    fingerprint, arrival_id = identity or ("", "")
    return Registered(
        admitted=admitted,
        run_config=campaign_run_config(admitted, path if identity else None, fingerprint),
        tags=campaign_run_tags(admitted, path.name, arrival_id),
    )


def _identify(path: Path) -> tuple[str, str] | None:
    """(sha256, arrival id) of a landing file, as the sensor names the same arrival."""
    arrival = Arrival(path=path, name=path.name, mtime_ns=path.stat().st_mtime_ns, status="ready")
    return arrival.identify()


def _refuse_if_in_flight(location: Location, path: Path, arrival_id: str) -> None:
    runs = location.instance.get_runs(filters=dg.RunsFilter(tags={ARRIVAL_TAG: arrival_id}))
    going = [run for run in runs if not run.is_finished]
    if going:
        raise InFlight(path.name, going[0].run_id)


class InFlight(RuntimeError):
    """The sensor already started a run for this very file."""

    def __init__(self, name: str, run_id: str):
        super().__init__(f"{name} is already being built by run {run_id} (started by the "
                         "campaign_requests_sensor): follow it in the Dagster UI")
        self.run_id = run_id


def run_job(
    location: Location,
    job_name: str,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
    *,
    say: runs.Say = runs.say_on_stderr,
    on_run: Callable[[str], None] | None = None,
) -> JobExecutionResult:
    """Runs a job of the code location in this process, recorded in the instance.

    ``execute_job`` on a reconstructable job, not ``execute_in_process``: the latter keeps every
    step's output in memory for the result object, several GB for a 10M-row campaign. First the
    runs of dead processes give back their pool slots; while it runs, a wait for a slot is
    reported through ``say`` and Ctrl-C raises ``runs.RunInterrupted`` (see runs.py).
    ``on_run`` receives the run id once the run exists.
    """
    run_tags = dict(tags or {})
    if partition_key is not None:
        run_tags["dagster/partition"] = partition_key
    invocation = uuid.uuid4().hex
    run_tags.update(runs.process_tags(invocation))
    runs.reap_dead_runs(location.instance, say)
    with runs.RunWatch(location.instance, invocation, say, on_run) as watch:
        try:
            with dg.execute_job(
                dg.reconstructable(_JOB_ENTRIES[job_name]),
                instance=location.instance,
                run_config={**_IN_PROCESS_QUIET, **(run_config or {})},
                tags=run_tags,
            ) as result:
                if not watch.interrupted:
                    return result
        except KeyboardInterrupt:
            pass
        raise watch.stopped()


# What campaign runs read from the reference group (audiences/assets.py, checks.py).
REFERENCE_INPUTS = tuple(
    dg.AssetKey(["reference", name]) for name in ("blacklist", "customer_profile", "vocabulary")
)


def ensure_reference_data(location: Location, say: runs.Say) -> None:
    """Runs reference_refresh_job first when a reference dataset a campaign reads has never
    been materialized in this instance or its stored file is gone, as on a fresh warehouse.
    A failed refresh is said; the campaign's own run then fails naming what is missing."""
    if not missing_reference_data(location):
        return
    location.warehouse  # noqa: B018 - a missing warehouse setting is said before any run
    announce = "reference datasets missing: building them first (run {})"
    result = run_job(
        location, "reference_refresh_job", say=say, on_run=lambda i: say(announce.format(i))
    )
    if not result.success:
        say(f"reference refresh run {result.run_id} failed: "
            + "; ".join(failure_messages(result)))


def missing_reference_data(location: Location) -> list[str]:
    import polars as pl

    io_manager = location.resource("io_manager")
    stored_type = dg.PythonObjectDagsterType(pl.LazyFrame)  # scanned, so nothing is read
    missing = []
    for key in REFERENCE_INPUTS:
        if location.instance.get_latest_materialization_event(key) is None:
            missing.append(key.to_user_string())
            continue
        try:  # the IO manager knows where it keeps the file
            io_manager.load_input(dg.build_input_context(asset_key=key, dagster_type=stored_type))
        except dg.Failure:
            missing.append(key.to_user_string())
    return missing


def audience_job() -> dg.JobDefinition:
    return _loaded_job("audience_job")


def reference_refresh_job() -> dg.JobDefinition:
    return _loaded_job("reference_refresh_job")


def _loaded_job(name: str) -> dg.JobDefinition:
    from campaign_pipelines.definitions import defs

    return defs().resolve_job_def(name)


def campaign_job() -> dg.JobDefinition:
    return _loaded_job("campaign_job")


def streaks_daily_job() -> dg.JobDefinition:
    return _loaded_job("streaks_daily_job")


def streak_manual_assignment_job() -> dg.JobDefinition:
    return _loaded_job("streak_manual_assignment_job")


_JOB_ENTRIES = {
    "audience_job": audience_job,
    "campaign_job": campaign_job,
    "reference_refresh_job": reference_refresh_job,
    "streaks_daily_job": streaks_daily_job,
    "streak_manual_assignment_job": streak_manual_assignment_job,
}

# Step-by-step engine events belong in the UI; the terminal shows warnings and the outcome.
_IN_PROCESS_QUIET = {
    "execution": {"config": {"in_process": {}}},
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}


def failure_messages(result: JobExecutionResult) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            data = event.step_failure_data
            text = data.user_failure_data.description if data.user_failure_data else None
            messages.append(f"{event.step_key}: {text or data.error.message.strip()}")
    return messages or ([] if result.success else ["the run failed; see its logs in the UI"])


def materialization_metadata(result: JobExecutionResult, node: str) -> dict[str, Any]:
    events = result.asset_materializations_for_node(node)
    if not events:
        return {}
    return {k: getattr(v, "value", v) for k, v in events[-1].metadata.items()}


def audience_response(key: str, request: CampaignRequest, result: JobExecutionResult) -> dict:
    """The legacy create response (success, campaign_type, filter_stats, message) for a run
    that builds the audience without deploying it."""
    stats = dict(materialization_metadata(result, "filtered_audience").get("filter_stats") or {})
    split = materialization_metadata(result, "audience_split")
    if split:
        stats["target_count"] = split["target_count"]
        stats["control_count"] = split["control_count"]
    kind = request.campaign_type.value
    if result.success:
        message = (
            f"Dry run of {kind} campaign {key}: {stats.get('final_count', 0)} users "
            f"({stats.get('target_count', 0)} target, {stats.get('control_count', 0)} "
            "control); nothing deployed"
        )
    else:
        message = "; ".join(failure_messages(result))
    return {
        "success": result.success,
        "campaign_key": key,
        "campaign_type": kind,
        "filter_stats": stats,
        "run_id": result.run_id,
        "message": message,
    }


def campaign_response(key: str, request: CampaignRequest, result: JobExecutionResult) -> dict:
    """The legacy create response: success, campaign_code, campaign_type, filter_stats,
    deployment_result, message."""
    body = audience_response(key, request, result)
    codes = materialization_metadata(result, "campaign_codes")
    code = codes.get("campaign_code")
    stats = body["filter_stats"]
    total = stats.get("target_count", 0)
    deployment = deployment_result(code, request, total_users=total, **_deployment_facts(result))
    success = result.success and deployment["success"]
    kind = request.campaign_type.value
    if success:
        message = created_message(kind, code, total, stats.get("control_count", 0))
    elif code:
        message = f"{kind} campaign {code} deployed with errors: " + "; ".join(
            deployment["errors"] or failure_messages(result)
        )
    else:
        message = body["message"]
    return {
        "success": success,
        "campaign_code": code,
        "xls_ow_id": codes.get("xls_ow_id") or None,
        "campaign_type": kind,
        "campaign_key": key,
        "filter_stats": body["filter_stats"],
        "deployment_result": deployment,
        "run_id": result.run_id,
        "message": message,
    }


def _step_failure(result: JobExecutionResult, step_key: str) -> str | None:
    for event in result.all_events:
        if event.is_step_failure and event.step_key == step_key and event.step_failure_data:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                return data.user_failure_data.description.split(": ", 1)[-1]
            return data.error.message.strip() if data.error else "failed"
    return None


def pending_requests(location: Location) -> list:
    """Every arrival in landing/campaigns with its status (ready, waiting or refused)."""
    data = location.campaign_data
    return data.landing().arrivals(
        "campaigns", REQUEST_SUFFIXES, quiet_seconds=data.landing_quiet_s
    )


def _deployment_facts(result: JobExecutionResult) -> dict[str, Any]:
    """What the run did to each table: written (rows or none), deployed (rows), or failed with
    its reason; a registry failure under the registry's name; and the first failed step, which
    is why the tables after it were not written."""
    deployed, written, failures = [], [], {}
    for table in DEPLOYMENT_TABLES:
        node = f"{table.schema}__{table.name}"
        meta = materialization_metadata(result, node)
        if meta:
            written.append(table.qualified)
        if meta.get("deployed"):
            deployed.append(table.qualified)
        if failure := _step_failure(result, node):
            failures[table.qualified] = failure
    if failure := _step_failure(result, "campaign_codes"):
        failures[CAMPAIGN_REGISTRY.qualified] = failure
    # A table's step key is its asset key joined by "__": name it as the table.
    failed = [e.step_key.replace("__", ".") for e in result.all_events if e.is_step_failure]
    return {
        "deployed": deployed,
        "written": written,
        "failures": failures,
        "blocked_by": f"{failed[0]} failed" if failed else None,
    }
