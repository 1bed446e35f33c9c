"""What a finished run says, in the legacy service's response shapes: the audience funnel,
the campaign code, which tables were deployed and why the others were not."""

from __future__ import annotations

from typing import Any

import dagster as dg

from campaign_pipelines.campaign_reads import as_json
from campaign_pipelines.core.deployment import CAMPAIGN_REGISTRY, DEPLOYMENT_TABLES, Table
from campaign_pipelines.core.registry import created_message, deployment_result
from campaign_pipelines.core.requests import CampaignRequest


def failure_messages(result: dg.JobExecutionResult) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            data = event.step_failure_data
            text = data.user_failure_data.description if data.user_failure_data else None
            messages.append(f"{event.step_key}: {text or data.error.message.strip()}")
    return messages or ([] if result.success else ["the run failed; see its logs in the UI"])


def materialization_metadata(result: dg.JobExecutionResult, node: str) -> dict[str, Any]:
    events = result.asset_materializations_for_node(node)
    if not events:
        return {}
    return {k: getattr(v, "value", v) for k, v in events[-1].metadata.items()}


def run_report(result: dg.JobExecutionResult, node: str) -> dict[str, Any]:
    """What a command prints of a run: its outcome, ``node``'s metadata, and why it failed."""
    body = {"success": result.success, "run_id": result.run_id,
            **materialization_metadata(result, node)}
    if not result.success:
        body["errors"] = failure_messages(result)
    return body


def audience_response(key: str, request: CampaignRequest, result: dg.JobExecutionResult) -> dict:
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


def campaign_response(key: str, request: CampaignRequest, result: dg.JobExecutionResult) -> dict:
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


def table_op_name(table: Table) -> str:
    """The op of the table's asset, keyed [schema, name] in defs/deployment/assets.py, named
    as Dagster derives an asset's op name from its key."""
    return dg.AssetKey([table.schema, table.name]).to_python_identifier()


def _failed_steps(result: dg.JobExecutionResult) -> list[tuple[str, str | None, str]]:
    """(step, table, why) per failed step, in order. The step is named as its table when it
    writes one; the table is the one the Failure names (defs/failures.py) or the one
    the step writes; why is the Failure's message, or the error that was not a Failure."""
    tables = {table_op_name(t): t.qualified for t in DEPLOYMENT_TABLES}
    failed = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data if data else None
        meta = {k: getattr(v, "value", v) for k, v in (user.metadata if user else {}).items()}
        if meta.get("message"):
            why = str(meta["message"])
        elif user and user.description:
            why = user.description
        else:
            why = data.error.message.strip() if data and data.error else "failed"
        step = tables.get(event.step_key, event.step_key)
        table = meta.get("table") or tables.get(event.step_key)
        if table is None and event.step_key == "campaign_codes":  # the registry's step
            table = CAMPAIGN_REGISTRY.qualified
        failed.append((step, table and str(table), why))
    return failed


def _deployment_facts(result: dg.JobExecutionResult) -> dict[str, Any]:
    """What the run did to each table: written (its step finished: rows, none, or left alone
    by deploy_options), deployed (it materialized with this campaign's rows; a materialization
    with a ``reason`` only says earlier rows were removed), or failed with its reason; a
    registry failure under the registry's name; and the first failed step, which is why the
    tables after it were not written."""
    finished = {event.step_key for event in result.get_step_success_events()}
    deployed, written = [], []
    for table in DEPLOYMENT_TABLES:
        if table_op_name(table) in finished:
            written.append(table.qualified)
        meta = materialization_metadata(result, table_op_name(table))
        if meta and "reason" not in meta:
            deployed.append(table.qualified)
    failed = _failed_steps(result)
    failures: dict[str, str] = {}
    for _, table, why in failed:
        if table is not None:
            failures.setdefault(table, why)
    return {
        "deployed": deployed,
        "written": written,
        "failures": failures,
        "blocked_by": f"{failed[0][0]} failed" if failed else None,
    }


def print_json(body: object) -> None:
    print(as_json(body, indent=2))
