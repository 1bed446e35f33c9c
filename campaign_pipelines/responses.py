"""What a finished run says, in the legacy service's response shapes: the audience funnel,
the campaign code, which tables were deployed and why the others were not."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from campaign_pipelines.core.deployment import CAMPAIGN_REGISTRY, DEPLOYMENT_TABLES
from campaign_pipelines.core.registry import created_message, deployment_result
from campaign_pipelines.core.requests import CampaignRequest

if TYPE_CHECKING:
    from dagster._core.execution.job_execution_result import JobExecutionResult


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


def print_json(body: object) -> None:
    print(json.dumps(body, ensure_ascii=False, indent=2, default=str))
