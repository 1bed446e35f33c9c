"""The bank's six deployment tables and the rows a campaign puts in each.

Every table carries CAMPAIGNCODE, so "replace this campaign's rows" is one DELETE and one
INSERT in a transaction, in either dialect. The same transaction records the load in the
deployment ledger (campaign_ops.campaign_deployments: the request version the table now holds
for the campaign, its rows, when) and, for the target and control tables, the registry's
counts: a load that dies leaves the ledger, the counts and the table as they were together.
The table and column lists here are the one source of the DDL for DuckDB and Oracle
(adapters/warehouse/ddl.py, ``campaigns db ddl``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
from pydantic import BaseModel, ConfigDict

from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.requests import CampaignRequest, CampaignType, request_version
from campaign_pipelines.core.split import CONTROL, TARGET

# A column's logical kind: code, xls, iin, name, text, date, int, time, version; each
# warehouse's type for it is adapters/warehouse/ddl.py's.


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[tuple[str, str], ...]
    constraints: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


_META = (
    ("CAMPAIGNCODE", "code"),
    ("CAMPAIGN_NAME", "name"),
    ("CAMPAIGN_DESC", "text"),
    ("STREAM", "name"),
    ("SUB_STREAM", "name"),
    ("TARGET_ACTION", "name"),
    ("CHANNEL", "name"),
    ("CAMPAIGN_TYPE", "name"),
    ("CAMPAIGN_TEXT", "text"),
    ("CAMPAIGN_TEXT_KZ", "text"),
    ("SHORT_DESC", "text"),
    ("DATE_START", "date"),
    ("DATE_END", "date"),
    ("OUT_DATE", "date"),
    ("CAMP_CNT", "int"),
    ("LOAD_DATE", "time"),
)
MB01_CAMP_DICT = Table("dssb_ocds", "mb01_camp_dict", _META)
RB3_TR_CAMPAIGN_DICT = Table(
    "dssb_ocds",
    "rb3_tr_campaign_dict",
    (*_META, ("XLS_OW_ID", "xls"), ("BONUS", "text"), ("CHARACTERISTIC_JSON", "text")),
)
MB22_LOCAL_TARGET = Table(
    "dssb_ocds",
    "mb22_local_target",
    (("CAMPAIGNCODE", "code"), ("IIN", "iin"), ("LOAD_DATE", "time")),
)
MB21_LOCAL_CONTROL = Table(
    "dssb_ocds",
    "mb21_local_control",
    (("CAMPAIGNCODE", "code"), ("IIN", "iin"), ("LOAD_DATE", "time")),
)
FD_RB2_CAMPAIGNS_USERS = Table(
    "spss",
    "fd_rb2_campaigns_users",
    (
        ("CAMPAIGNCODE", "code"),
        ("IIN", "iin"),
        ("CHANNEL", "name"),
        ("DATE_START", "date"),
        ("DATE_END", "date"),
        ("LOAD_DATE", "time"),
    ),
)
OFF_LIMIT_CAMPAIGNS_USERS = Table(
    "spss",
    "off_limit_campaigns_users",
    (
        ("CAMPAIGNCODE", "code"),
        ("IIN", "iin"),
        ("USER_GROUP", "name"),
        ("DATE_START", "date"),
        ("DATE_END", "date"),
        ("LOAD_DATE", "time"),
    ),
)
CAMPAIGN_REGISTRY = Table(
    "campaign_ops",
    "campaign_registry",
    (
        ("campaign_key", "name"),
        ("campaign_code", "code"),
        ("xls_ow_id", "xls"),
        ("campaign_type", "code"),
        ("campaign_name", "name"),
        ("stream", "name"),
        ("channel", "name"),
        ("date_start", "date"),
        ("date_end", "date"),
        ("user_count", "int"),
        ("control_count", "int"),
        ("deleted_at", "time"),
        ("created_at", "time"),
        ("updated_at", "time"),
        # The request version the row describes and the tables that version writes (comma-
        # separated): what "deployed" is measured against.
        ("request_version", "version"),
        ("deploy_tables", "text"),
    ),
    # Named, so a refused insert names the rule it broke in either database.
    constraints=(
        "CONSTRAINT campaign_registry_pk PRIMARY KEY (campaign_key)",
        "CONSTRAINT campaign_registry_code_uk UNIQUE (campaign_code)",
        "CONSTRAINT campaign_registry_xls_uk UNIQUE (xls_ow_id)",
    ),
)
CAMPAIGN_DEPLOYMENTS = Table(
    "campaign_ops",
    "campaign_deployments",
    (
        ("campaign_code", "code"),
        ("table_name", "name"),
        ("request_version", "version"),
        ("row_count", "int"),
        ("loaded_at", "time"),
    ),
    constraints=("CONSTRAINT campaign_deployments_pk PRIMARY KEY (campaign_code, table_name)",),
)
DEPLOYMENT_TABLES = (
    MB01_CAMP_DICT,
    RB3_TR_CAMPAIGN_DICT,
    MB22_LOCAL_TARGET,
    MB21_LOCAL_CONTROL,
    FD_RB2_CAMPAIGNS_USERS,
    OFF_LIMIT_CAMPAIGNS_USERS,
)
# Everything `campaigns db init` creates and deployment needs, in creation order.
PROJECT_TABLES = (*DEPLOYMENT_TABLES, CAMPAIGN_REGISTRY, CAMPAIGN_DEPLOYMENTS)
# The registry column that mirrors a table's rows for the campaign, loaded with them.
REGISTRY_COUNT = {MB22_LOCAL_TARGET: "user_count", MB21_LOCAL_CONTROL: "control_count"}


class CodedCampaign(BaseModel):
    """A request with the codes allocated to it: all a deployment table needs besides the
    audience. The tables read it from one upstream asset (``campaign_codes``), so the lineage
    runs request → … → codes → tables rather than from the request to every table."""

    model_config = ConfigDict(frozen=True)

    request: CampaignRequest
    codes: CampaignCodes

    @property
    def campaign_code(self) -> str:
        return self.codes.campaign_code

    @property
    def version(self) -> str:
        return request_version(self.request)


# Which deploy_options flag (the legacy names) governs each table.
DEPLOY_OPTION = {
    MB01_CAMP_DICT: "deploy_metadata",
    RB3_TR_CAMPAIGN_DICT: "deploy_metadata",
    MB22_LOCAL_TARGET: "deploy_targeting",
    MB21_LOCAL_CONTROL: "deploy_targeting",
    FD_RB2_CAMPAIGNS_USERS: "deploy_users",
    OFF_LIMIT_CAMPAIGNS_USERS: "deploy_offlimit",
}


def option_off(table: Table, request: CampaignRequest) -> str | None:
    """Why the request's deploy_options leave ``table`` untouched, or None if it deploys."""
    option = DEPLOY_OPTION[table]
    return None if getattr(request.deploy_options, option) else f"deploy_options.{option} is false"


# The dictionary each campaign type's metadata lives in.
METADATA_TABLE = {CampaignType.RB1: MB01_CAMP_DICT, CampaignType.RB3: RB3_TR_CAMPAIGN_DICT}


def metadata_table(request: CampaignRequest) -> Table:
    return METADATA_TABLE[request.campaign_type]


def dictionary_rows(
    table: Table, request: CampaignRequest, codes: CampaignCodes, loaded_at: datetime
) -> pl.DataFrame:
    """The rows dictionary ``table`` holds for the campaign: its metadata row in its type's
    dictionary, none in the other one (writing none there removes what an earlier deployment
    as the other type left)."""
    if metadata_table(request) is table:
        return metadata_rows(request, codes, loaded_at)
    return pl.DataFrame(schema=polars_schema(table))


def holds_none_because(table: Table, request: CampaignRequest) -> str | None:
    """Why ``table``, though written, holds no rows of this campaign; None when it holds them.
    (A table holding no rows because its audience is empty is deployed, not explained here.)"""
    if table in METADATA_TABLE.values() and metadata_table(request) is not table:
        return f"{request.campaign_type.value} campaigns keep their metadata elsewhere"
    if table is MB21_LOCAL_CONTROL and request.control_group is None:
        return "the request has no control group"
    return None


def metadata_rows(
    request: CampaignRequest, codes: CampaignCodes, loaded_at: datetime
) -> pl.DataFrame:
    """One row of the campaign's metadata in the seed's field names, upper case."""
    meta = request.metadata
    row = {
        "CAMPAIGNCODE": codes.campaign_code,
        "CAMPAIGN_NAME": meta.campaign_name,
        "CAMPAIGN_DESC": meta.campaign_desc,
        "STREAM": meta.stream,
        "SUB_STREAM": meta.sub_stream,
        "TARGET_ACTION": meta.target_action,
        "CHANNEL": meta.channel,
        "CAMPAIGN_TYPE": meta.campaign_type,
        "CAMPAIGN_TEXT": meta.campaign_text,
        "CAMPAIGN_TEXT_KZ": meta.campaign_text_kz,
        "SHORT_DESC": meta.short_desc,
        "DATE_START": meta.date_start,
        "DATE_END": meta.date_end,
        "OUT_DATE": meta.out_date,
        "CAMP_CNT": meta.camp_cnt,
        "LOAD_DATE": loaded_at,
    }
    table = metadata_table(request)
    if table is RB3_TR_CAMPAIGN_DICT:
        row |= {
            "XLS_OW_ID": codes.xls_ow_id,
            "BONUS": meta.bonus,
            "CHARACTERISTIC_JSON": meta.characteristic_json,
        }
    return pl.DataFrame([row], schema=polars_schema(table))


def polars_schema(table: Table) -> dict[str, pl.DataType]:
    kinds = {"date": pl.Date, "int": pl.Int64, "time": pl.Datetime("us")}
    return {name: kinds.get(kind, pl.String) for name, kind in table.columns}


def user_rows(
    table: Table, split: pl.DataFrame, request: CampaignRequest, code: str, loaded_at: datetime
) -> pl.DataFrame:
    """The rows ``table`` holds for this campaign, from the target/control split."""
    meta = request.metadata
    if table is MB22_LOCAL_TARGET or table is FD_RB2_CAMPAIGNS_USERS:
        users = split.filter(pl.col("group") == TARGET)
    elif table is MB21_LOCAL_CONTROL:
        users = split.filter(pl.col("group") == CONTROL)
    elif table is OFF_LIMIT_CAMPAIGNS_USERS:
        users = split  # target and control alike: neither may be reached by another campaign
    else:
        raise ValueError(f"{table.qualified} holds no users")
    values = {
        "CAMPAIGNCODE": pl.lit(code),
        "IIN": pl.col("iin"),
        "LOAD_DATE": pl.lit(loaded_at),
        "CHANNEL": pl.lit(meta.channel, dtype=pl.String),
        "DATE_START": pl.lit(meta.date_start),
        "DATE_END": pl.lit(meta.date_end),
        "USER_GROUP": pl.col("group").str.to_uppercase(),
    }
    schema = polars_schema(table)
    return users.select([values[c].cast(schema[c]).alias(c) for c in table.column_names])


def tables_to_write(request: CampaignRequest) -> list[Table]:
    """Every table a deployment of ``request`` writes: each one its deploy_options leave on.
    The other campaign type's dictionary, and the control table of a request without a control
    group, are written too: with no rows, which removes the campaign's earlier ones."""
    return [table for table in DEPLOYMENT_TABLES if option_off(table, request) is None]
