"""The campaign registry as the legacy list/get API showed it, what is deployed, and the
legacy create response's deployment_result.

What is deployed comes from the deployment ledger (campaign_ops.campaign_deployments), which
each table load writes in its own transaction: one row per campaign and table with the request
version the table holds, its rows and when it was loaded. The registry names the version it
describes (``request_version``) and the tables that version writes (``deploy_tables``). A
campaign is "deployed" when every one of those tables holds that version, "not deployed" when
none holds anything of it, "partial" otherwise, and "unrecorded" when it was registered before
the ledger existed (nothing to compare: a rerun records it).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from campaign_pipelines.core.deployment import (
    CAMPAIGN_REGISTRY,
    DEPLOYMENT_TABLES,
    tables_to_write,
)
from campaign_pipelines.core.requests import CampaignRequest

# The bank's calendar: campaign dates, daily schedules and "today" are Almaty dates.
BANK_TIMEZONE = "Asia/Almaty"

LISTED = (
    "campaign_code",
    "campaign_type",
    "campaign_name",
    "stream",
    "channel",
    "date_start",
    "date_end",
    "user_count",
    "created_at",
    "status",
)


def bank_date(moment: datetime) -> date:
    """The date in the bank's time zone at ``moment`` (an aware datetime): at 02:00 in Almaty
    it is already tomorrow while UTC still says today."""
    return moment.astimezone(ZoneInfo(BANK_TIMEZONE)).date()


def with_status(registry: pl.DataFrame, today: date) -> pl.DataFrame:
    """Deleted when deleted, else Scheduled before date_start, Active through date_end,
    Finished after."""
    status = (
        pl.when(pl.col("deleted_at").is_not_null()).then(pl.lit("Deleted"))
        .when(pl.lit(today) < pl.col("date_start")).then(pl.lit("Scheduled"))
        .when(pl.lit(today) <= pl.col("date_end")).then(pl.lit("Active"))
        .otherwise(pl.lit("Finished"))
    )
    return registry.with_columns(status=status)


def campaign_list(
    registry: pl.DataFrame,
    today: date,
    *,
    campaign_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
    include_deleted: bool = False,
    ledger: pl.DataFrame | None = None,
) -> dict:
    listed = with_status(registry, today)
    if not include_deleted:
        listed = listed.filter(pl.col("status") != "Deleted")
    counts = dict(listed.group_by("campaign_type").len().iter_rows())
    if campaign_type:
        listed = listed.filter(pl.col("campaign_type") == campaign_type)
    page = listed.sort(["created_at", "campaign_code"], descending=True).slice(offset, limit)
    campaigns = page.select(LISTED).to_dicts()
    if ledger is not None:
        for shown, row in zip(campaigns, page.to_dicts(), strict=True):
            shown["deployment"] = deployment_state(row, ledger)
    return {
        "campaigns": campaigns,
        "total_count": listed.height,
        "rb1_count": counts.get("RB1", 0),
        "rb3_count": counts.get("RB3", 0),
    }


def campaign_details(
    registry: pl.DataFrame, code: str, today: date, *, ledger: pl.DataFrame | None = None
) -> dict | None:
    found = with_status(registry.filter(pl.col("campaign_code") == code), today)
    if not found.height:
        return None
    details = found.to_dicts()[0]
    if ledger is not None:
        details["deployment"] = deployment_state(details, ledger)
    return details


def registry_code(registry: pl.DataFrame, ref: str) -> str | None:
    """The CAMPAIGNCODE of the campaign ``ref`` names: its CAMPAIGNCODE, its XLS_OW_ID or its
    key, in that order (the registry holds each uniquely); None when none does."""
    for column in ("campaign_code", "xls_ow_id", "campaign_key"):
        found = registry.filter(pl.col(column) == ref)
        if found.height:
            return str(found["campaign_code"][0])
    return None


REPAIR = "rerun `campaigns create FILE` with the same request to repair"


def deployment_state(campaign: dict, ledger: pl.DataFrame) -> dict:
    """``state``, a ``message`` for people and, per table, the {request_version, rows,
    loaded_at} it holds for ``campaign`` (a registry row) according to ``ledger``."""
    own = ledger.filter(pl.col("campaign_code") == campaign["campaign_code"]).sort("table_name")
    held = {
        row["table_name"]: {
            "request_version": row["request_version"],
            "rows": row["row_count"],
            "loaded_at": row["loaded_at"],
        }
        for row in own.to_dicts()
    }
    version, written = campaign.get("request_version"), campaign.get("deploy_tables")
    if version is None or written is None:
        message = (
            "registered before the deployment ledger existed, so what its tables hold is not "
            "recorded: rerun `campaigns create FILE` with its request to record it"
        )
        return {"state": "unrecorded", "message": message, "tables": held}
    expected = [name for name in written.split(",") if name]
    nothing = {"request_version": None, "rows": None, "loaded_at": None}
    tables = {name: held.get(name, nothing) for name in expected} | held
    state, message = _state(version, expected, tables)
    return {"state": state, "message": message, "tables": tables}


def _state(version: str, expected: list[str], tables: dict[str, dict]) -> tuple[str, str]:
    versions = {name: tables[name]["request_version"] for name in expected}
    if all(held == version for held in versions.values()):
        return "deployed", f"every table the request writes holds version {version}"
    if all(tables[name]["rows"] is None for name in expected):
        return "not deployed", (
            f"no table holds this campaign yet (the registry describes version {version}): "
            "run `campaigns create FILE` with its request to deploy it"
        )
    holdings = [_holding(name, tables[name]) for name in expected]
    return "partial", (
        f"the registry describes version {version} but " + "; ".join(holdings) + f": {REPAIR}"
    )


def _holding(name: str, held: dict) -> str:
    if held["request_version"]:
        return f"{name} holds version {held['request_version']}"
    if held["rows"] is None:
        return f"{name} holds nothing of this campaign"
    return f"{name} holds {held['rows']} rows loaded without a request version"


# --- the legacy create response ------------------------------------------------------------


def deployment_result(
    campaign_code: str | None,
    request: CampaignRequest,
    *,
    deployed: list[str],
    written: list[str],
    failures: dict[str, str],
    blocked_by: str | None,
    total_users: int,
) -> dict:
    """The legacy deployment_result. ``failures``: the reason of each failed table (and of the
    registry, under its own name); ``written``: the tables this run wrote, rows or none;
    ``blocked_by``: what stopped the run before the tables. Every table the request writes
    that was not written is an error with its reason, so success means fully deployed."""
    errors = dict(failures)
    why = f"not written: {blocked_by}" if blocked_by else "not written: its step did not run"
    for table in tables_to_write(request):
        if table.qualified not in written and table.qualified not in errors:
            errors[table.qualified] = why
    order = [CAMPAIGN_REGISTRY.qualified, *(t.qualified for t in DEPLOYMENT_TABLES)]
    named = sorted(errors, key=lambda name: order.index(name) if name in order else len(order))
    return {
        "campaign_code": campaign_code,
        "tables_updated": [t.qualified for t in DEPLOYMENT_TABLES if t.qualified in deployed],
        "total_users": total_users,
        "errors": [f"{_error_label(name)}: {errors[name]}" for name in named],
        "success": not errors,
    }


def _error_label(name: str) -> str:
    """The six tables by their bare names, as the legacy service did; anything else in full."""
    short = {t.qualified: t.name for t in DEPLOYMENT_TABLES}
    return short.get(name, name)


def created_message(kind: str, code: str | None, target: int, control: int) -> str:
    """What a fully deployed campaign's response says."""
    if target == 0 and control > 0:
        return (
            f"Created {kind} campaign {code} with 0 target users and {control} in the control "
            "group: the control share took everyone left after filtering (lower "
            "control_group.share or widen the audience; see filter_stats)"
        )
    if target == 0:
        return (
            f"Created {kind} campaign {code} with 0 users: every user was filtered out "
            "(see filter_stats)"
        )
    return f"Successfully created {kind} campaign {code}"
