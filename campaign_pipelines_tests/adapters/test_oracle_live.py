"""Round trips against a real Oracle, for what the fake cannot vouch for: types, DDL, Arrow
binds, the unique constraints, the optimizer's use of the CAMPAIGNCODE index, concurrent
sessions and a session killed mid-load.

Run them against a scratch database only (Oracle Free in a container will do; the README's
"Oracle live tests" says how): they create the tables (when missing) in the schemas dssb_ocds,
spss and campaign_ops, which must exist and be writable by ORACLE_USER, gather optimizer
statistics on dssb_ocds.mb22_local_target, and remove the rows they wrote. The empty-registry
test needs a registry nobody else wrote to, and skips, saying so, otherwise.

The statements these tests send themselves (not through the adapter) are the constants below;
``test_oracle_live_on_fake.py`` passes each through the recording fake's rules, and runs the
same writes as here through the adapter on the fake, so they are checked even where no
database is.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import date, datetime

import polars as pl
import pytest

from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.deployment import (
    MB22_LOCAL_TARGET,
    OFF_LIMIT_CAMPAIGNS_USERS,
    RB3_TR_CAMPAIGN_DICT,
    metadata_rows,
    polars_schema,
)
from campaign_pipelines.core.requests import CampaignRequest

LIVE_VARIABLES = ("ORACLE_DSN", "ORACLE_USER", "ORACLE_PASSWORD")
pytestmark = pytest.mark.skipif(
    not all(os.environ.get(name) for name in LIVE_VARIABLES),
    reason="needs a live Oracle: set ORACLE_DSN, ORACLE_USER, ORACLE_PASSWORD "
    "(README: Oracle live tests)",
)

# The statements the tests send themselves, all with named binds.
REGISTRY_CODES_OF_KEY = (
    "SELECT campaign_code FROM campaign_ops.campaign_registry WHERE campaign_key = :key"
)
REGISTRY_DELETE_KEY = "DELETE FROM campaign_ops.campaign_registry WHERE campaign_key = :key"
REGISTRY_COUNT = "SELECT COUNT(*) FROM campaign_ops.campaign_registry"
TARGET_COUNT = (
    "SELECT COUNT(*) AS n FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = :code"
)
TARGET_IINS = "SELECT IIN FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = :code"
LEDGER_ROWS = (
    "SELECT row_count FROM campaign_ops.campaign_deployments "
    "WHERE campaign_code = :code AND table_name = :table_name"
)
LOCK_CAMPAIGN_ROWS = (
    "SELECT IIN FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = :code FOR UPDATE NOWAIT"
)
RESOURCE_BUSY = 54  # ORA-00054: the rows are locked by another session
RB3_ROW = "SELECT * FROM dssb_ocds.rb3_tr_campaign_dict WHERE CAMPAIGNCODE = :code"
NAME_LENGTHS = (
    "SELECT LENGTH(CAMPAIGN_NAME) AS chars, LENGTHB(CAMPAIGN_NAME) AS bytes "
    "FROM dssb_ocds.rb3_tr_campaign_dict WHERE CAMPAIGNCODE = :code"
)
GATHER_STATS = (
    "BEGIN DBMS_STATS.GATHER_TABLE_STATS(ownname => :owner, tabname => :table_name); END;"
)
# EXPLAIN PLAN takes its statement id as a literal only; the tests make it (plan_id()), never
# from input.
EXPLAIN_PREFIX = "EXPLAIN PLAN SET STATEMENT_ID = '{plan_id}' FOR "
PLAN_STEPS = (
    "SELECT id, operation, options, object_name FROM plan_table "
    "WHERE statement_id = :statement_id ORDER BY id"
)
PLAN_TEXT = (
    "SELECT plan_table_output FROM TABLE(DBMS_XPLAN.DISPLAY('PLAN_TABLE', :statement_id, "
    "'BASIC'))"
)
CYRILLIC_NAME = ("Весенняя кампания для клиентов Қазақстан: ӘҒҚҢӨҰҮҺІ " * 5)[:200]


def plan_id() -> str:
    return f"cp{uuid.uuid4().hex[:20]}"


def live_warehouse() -> OracleWarehouse:
    return OracleWarehouse(
        dsn=os.environ["ORACLE_DSN"],
        user=os.environ["ORACLE_USER"],
        password=os.environ["ORACLE_PASSWORD"],
    )


@pytest.fixture
def deployment():
    deployment = OracleDeployment(live_warehouse(), batch_size=1_000)
    deployment.init_schema()
    deployment.init_schema()  # a second run finds the tables (ORA-00955) and leaves them
    return deployment


def forget(deployment: OracleDeployment, keys: list[str]) -> None:
    """Removes the campaigns of ``keys``: their rows everywhere, then their registry rows."""
    with deployment.warehouse.connect() as connection:
        cursor = connection.cursor()
        for key in keys:
            cursor.execute(REGISTRY_CODES_OF_KEY, {"key": key})
            for (code,) in cursor.fetchall():
                deployment.delete_campaign(code)
            cursor.execute(REGISTRY_DELETE_KEY, {"key": key})
        connection.commit()


@pytest.fixture
def campaign_key(deployment):
    key = f"live-test-{uuid.uuid4().hex[:12]}"
    yield key
    forget(deployment, [key])


def live_request(name: str = "Live test", **metadata) -> CampaignRequest:
    return CampaignRequest.model_validate(
        {
            "campaign_type": "RB3",
            "metadata": {
                "campaign_name": name,
                "date_start": "2099-01-01",
                "date_end": "2099-01-31",
                **metadata,
            },
            "user_iins": ["900101300123"],
        }
    )


def target_rows(code: str, count: int, first_iin: int = 900101300000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "CAMPAIGNCODE": [code] * count,
            "IIN": [f"{first_iin + i:012d}" for i in range(count)],
            "LOAD_DATE": [datetime(2099, 1, 1, 9, 30)] * count,
        },
        schema=polars_schema(MB22_LOCAL_TARGET),
    )


def test_an_empty_registry_reads_as_no_rows_and_previews_the_first_codes(deployment):
    """On a scratch database: every test here removes the registry rows it made."""
    count = deployment.warehouse.fetch(REGISTRY_COUNT).item()
    if count:
        pytest.skip(f"campaign_ops.campaign_registry holds {count} rows: this test needs a "
                    "scratch database whose registry is empty")
    registry = deployment.registry()
    assert registry.height == 0
    assert registry.columns == [name.lower() for name in registry.columns]
    assert registry.schema["date_start"] == pl.Date
    assert deployment.deployments().height == 0
    preview = deployment.preview_codes("RB3")
    assert preview.campaign_code.startswith("C") and len(preview.campaign_code) == 10
    assert preview.xls_ow_id and preview.xls_ow_id.startswith("KKB_")


def test_allocation_is_stable_and_visible_in_the_registry(deployment, campaign_key):
    codes = deployment.allocate_codes(campaign_key, live_request())
    assert deployment.allocate_codes(campaign_key, live_request()) == codes
    assert codes.xls_ow_id and codes.xls_ow_id.startswith("KKB_")
    row = deployment.registry().filter(pl.col("campaign_key") == campaign_key)
    assert row["campaign_code"].to_list() == [codes.campaign_code]
    assert row["date_start"].to_list() == [date(2099, 1, 1)]


def test_replace_round_trip_in_batches(deployment, campaign_key):
    code = deployment.allocate_codes(campaign_key, live_request()).campaign_code
    loaded = datetime(2099, 1, 1, 9, 30)

    def rows(count: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "CAMPAIGNCODE": [code] * count,
                "IIN": [f"{900101300000 + i}" for i in range(count)],
                "LOAD_DATE": [loaded] * count,
            },
            schema=polars_schema(MB22_LOCAL_TARGET),
        )

    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, code, rows(2_500)) == 2_500
    assert deployment.replace_campaign_rows(MB22_LOCAL_TARGET, code, rows(1_200)) == 1_200
    stored = deployment.warehouse.fetch(
        "SELECT COUNT(*) AS n FROM dssb_ocds.mb22_local_target WHERE CAMPAIGNCODE = :code",
        {"code": code},
    )
    assert stored["N"].to_list() == [1_200]
    assert deployment.delete_campaign(code)[MB22_LOCAL_TARGET.qualified] == 1_200


def test_off_limit_window_finds_only_other_campaigns(deployment, campaign_key):
    code = deployment.allocate_codes(campaign_key, live_request()).campaign_code
    row = {
        "CAMPAIGNCODE": code,
        "IIN": "900101300123",
        "USER_GROUP": "TARGET",
        "DATE_START": date(2099, 1, 1),
        "DATE_END": date(2099, 1, 31),
        "LOAD_DATE": datetime(2099, 1, 1),
    }
    frame = pl.DataFrame([row], schema=polars_schema(OFF_LIMIT_CAMPAIGNS_USERS))
    deployment.replace_campaign_rows(OFF_LIMIT_CAMPAIGNS_USERS, code, frame)
    window = (date(2099, 1, 15), date(2099, 2, 15))
    assert "900101300123" in deployment.off_limit_iins(*window, None)["iin"].to_list()
    assert "900101300123" not in deployment.off_limit_iins(*window, code)["iin"].to_list()


def rb3_metadata(code: CampaignCodes, name: str = "Live test") -> pl.DataFrame:
    request = live_request(name, stream="Deposits", channel="push", camp_cnt=3,
                       bonus="5% cashback", characteristic_json={"segment": "mass", "n": 1})
    return metadata_rows(request, code, datetime(2099, 1, 1, 9, 30, 15, 123456))


def test_an_rb3_metadata_row_round_trips(deployment, campaign_key):
    codes = deployment.allocate_codes(campaign_key, live_request())
    written = rb3_metadata(codes)
    assert deployment.replace_campaign_rows(RB3_TR_CAMPAIGN_DICT, codes.campaign_code,
                                            written, "0123456789abcdef") == 1
    stored = deployment.warehouse.fetch(RB3_ROW, {"code": codes.campaign_code})
    assert stored.height == 1
    row = stored.row(0, named=True)
    expected = written.row(0, named=True)
    assert row["XLS_OW_ID"] == codes.xls_ow_id and row["XLS_OW_ID"].startswith("KKB_")
    for column in ("CAMPAIGN_NAME", "STREAM", "CHANNEL", "BONUS", "CHARACTERISTIC_JSON",
                   "CAMP_CNT"):
        assert row[column] == expected[column], column
    assert row["DATE_START"].date() == date(2099, 1, 1)  # Oracle's DATE reads as a timestamp
    assert row["LOAD_DATE"] == expected["LOAD_DATE"]  # TIMESTAMP: the microseconds are kept
    ledger = deployment.warehouse.fetch(LEDGER_ROWS, {"code": codes.campaign_code,
                                                      "table_name": RB3_TR_CAMPAIGN_DICT.qualified})
    assert ledger.item() == 1


def test_a_200_character_cyrillic_name_round_trips(deployment, campaign_key):
    assert len(CYRILLIC_NAME) == 200 and len(CYRILLIC_NAME.encode()) > 300
    codes = deployment.allocate_codes(campaign_key, live_request(CYRILLIC_NAME))
    registry = deployment.registry().filter(pl.col("campaign_key") == campaign_key)
    assert registry["campaign_name"].to_list() == [CYRILLIC_NAME]
    deployment.replace_campaign_rows(RB3_TR_CAMPAIGN_DICT, codes.campaign_code,
                                     rb3_metadata(codes, CYRILLIC_NAME))
    stored = deployment.warehouse.fetch(RB3_ROW, {"code": codes.campaign_code})
    assert stored["CAMPAIGN_NAME"].to_list() == [CYRILLIC_NAME]
    lengths = deployment.warehouse.fetch(NAME_LENGTHS, {"code": codes.campaign_code})
    assert lengths.row(0) == (200, len(CYRILLIC_NAME.encode()))  # in AL32UTF8: bytes > chars


def explain_replace_delete(deployment: OracleDeployment, table=MB22_LOCAL_TARGET) -> tuple[
        list[tuple], str]:
    """The plan Oracle makes for the replace's DELETE (statements.delete_campaign_rows), after
    fresh statistics: its steps (id, operation, options, object) and DBMS_XPLAN's text."""
    statement_id = plan_id()
    with deployment.warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(GATHER_STATS, {"owner": table.schema.upper(),
                                      "table_name": table.name.upper()})
        cursor.execute(EXPLAIN_PREFIX.format(plan_id=statement_id)
                       + statements.delete_campaign_rows(table), {"campaign_code": "C000000000"})
        cursor.execute(PLAN_STEPS, {"statement_id": statement_id})
        steps = cursor.fetchall()
        cursor.execute(PLAN_TEXT, {"statement_id": statement_id})
        text = "\n".join(line for (line,) in cursor.fetchall())
        connection.rollback()
    return steps, text


@pytest.mark.long_pole(seconds=120)
def test_a_1m_row_replace_deletes_through_the_campaigncode_index(deployment, campaign_key):
    """1M rows of one campaign among 200 other campaigns' 5,000 each: the replace's DELETE
    reads the campaign's rows through mb22_local_target_code_ix (INDEX RANGE SCAN), never the
    whole table (TABLE ACCESS FULL)."""
    code = deployment.allocate_codes(campaign_key, live_request()).campaign_code
    others = [f"Z{uuid.uuid4().int % 10**9:09d}" for _ in range(200)]
    bulk = OracleDeployment(deployment.warehouse)  # 50,000-row batches
    try:
        for number, other in enumerate(others):
            bulk.replace_campaign_rows(MB22_LOCAL_TARGET, other,
                                       target_rows(other, 5_000, 800_000_000_000 + number))
        started = time.monotonic()
        assert bulk.replace_campaign_rows(MB22_LOCAL_TARGET, code,
                                          target_rows(code, 1_000_000)) == 1_000_000
        first = time.monotonic() - started
        started = time.monotonic()
        rows = target_rows(code, 1_000_000, 700_000_000_000)
        assert bulk.replace_campaign_rows(MB22_LOCAL_TARGET, code, rows) == 1_000_000
        again = time.monotonic() - started
        steps, text = explain_replace_delete(deployment)
        print(f"1M-row replace: {first:.1f} s into no rows, {again:.1f} s over 1M rows\n{text}")
        stored = deployment.warehouse.fetch(TARGET_COUNT, {"code": code})
        assert stored["N"].to_list() == [1_000_000]
    finally:
        for other in others:
            deployment.delete_campaign(other)
    used = {(operation, options, name) for _, operation, options, name in steps}
    assert ("INDEX", "RANGE SCAN", "MB22_LOCAL_TARGET_CODE_IX") in used, text
    assert ("TABLE ACCESS", "FULL", "MB22_LOCAL_TARGET") not in used, text
