"""Operations the `campaigns` command performs through Dagster.

Runs go through the Dagster instance (``DAGSTER_HOME``), so every campaign built from the
command line appears in the UI's run history like the ones the sensor starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from campaign_pipelines.adapters.campaign_intake import REQUEST_SUFFIXES, admit, campaign_key
from campaign_pipelines.core.deployment import DEPLOYMENT_TABLES, deployment_result
from campaign_pipelines.core.requests import CampaignRequest, RequestError
from campaign_pipelines.defs.partitions import campaigns_partitions
from campaign_pipelines.defs.resources import CampaignDataResource, WarehouseResource

if TYPE_CHECKING:
    from dagster._core.execution.job_execution_result import JobExecutionResult


@dataclass(frozen=True)
class Location:
    """The loaded code location with its resources, and the instance runs are recorded in."""

    defs: dg.Definitions
    instance: dg.DagsterInstance

    @property
    def campaign_data(self) -> CampaignDataResource:
        return self.defs.resources["campaign_data"]

    @property
    def warehouse(self) -> WarehouseResource:
        return self.defs.resources["warehouse"]


def register(
    location: Location, path: Path, *, consume: bool = True
) -> tuple[str, CampaignRequest]:
    """Admits the request file and adds its campaign partition; RequestError if it cannot run.

    With ``consume`` (a real create), a file inside landing/campaigns is archived or rejected
    exactly as the sensor would, so the sensor never processes it a second time. A dry run
    passes ``consume=False``: the file stays pending, and the sensor (or a later create)
    still deploys it.
    """
    data = location.campaign_data
    landing = data.landing()
    in_landing = consume and path.resolve().parent == landing.folder("campaigns").resolve()
    try:
        key = campaign_key(path.name)
        request = admit(
            path,
            blacklist_sources=location.warehouse.reference_config().blacklist_sources,
            uploads_dir=data.uploads_dir(),
        )
    except RequestError as error:
        if in_landing:
            landing.reject(path, {"problems": error.problems})
        raise
    data.requests().save(key, request)
    if in_landing:
        landing.archive(path)
    location.instance.add_dynamic_partitions(campaigns_partitions.name, [key])
    return key, request


def run_job(
    location: Location,
    job_name: str,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
) -> JobExecutionResult:
    """Runs a job of the code location in this process, recorded in the instance.

    ``execute_job`` on a reconstructable job, not ``execute_in_process``: the latter keeps every
    step's output in memory for the result object, several GB for a 10M-row campaign.
    """
    run_tags = dict(tags or {})
    if partition_key is not None:
        run_tags["dagster/partition"] = partition_key
    with dg.execute_job(
        dg.reconstructable(_JOB_ENTRIES[job_name]),
        instance=location.instance,
        run_config={**_IN_PROCESS_QUIET, **(run_config or {})},
        tags=run_tags,
    ) as result:
        return result


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
    deployed, errors = [], {}
    for table in DEPLOYMENT_TABLES:
        node = f"{table.schema}__{table.name}"
        meta = materialization_metadata(result, node)
        if meta.get("deployed"):
            deployed.append(table.qualified)
        failure = _step_failure(result, node)
        if failure:
            errors[table.qualified] = failure
    total = body["filter_stats"].get("target_count", 0)
    deployment = deployment_result(code, deployed, errors, total)
    success = result.success and deployment["success"]
    kind = request.campaign_type.value
    if success and total == 0:
        message = (
            f"Created {kind} campaign {code} with 0 users: every user was filtered out "
            "(see filter_stats)"
        )
    elif success:
        message = f"Successfully created {kind} campaign {code}"
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


def pending_requests(location: Location) -> list[Path]:
    return location.campaign_data.landing().pending("campaigns", REQUEST_SUFFIXES)
