"""Round trips against a real Oracle, for what the fake cannot vouch for: types, DDL, Arrow
binds and the unique constraints.

Run them against a scratch database only: they create the tables (when missing) in the
schemas dssb_ocds, spss and campaign_ops, which must exist and be writable by ORACLE_USER, and
they remove what they wrote. For example with the gvenzl/oracle-free container, create the
three users as SYSTEM, then ``ORACLE_DSN=localhost:1521/FREEPDB1 ORACLE_USER=system
ORACLE_PASSWORD=... pytest campaign_pipelines_tests/adapters/test_oracle_live.py``.
"""

from __future__ import annotations

import os
import uuid
from datetime import date, datetime

import polars as pl
import pytest

from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.core.deployment import (
    MB22_LOCAL_TARGET,
    OFF_LIMIT_CAMPAIGNS_USERS,
    polars_schema,
)
from campaign_pipelines.core.requests import CampaignRequest

pytestmark = pytest.mark.skipif(
    not os.environ.get("ORACLE_DSN"),
    reason="needs a live Oracle: set ORACLE_DSN, ORACLE_USER, ORACLE_PASSWORD",
)


@pytest.fixture
def deployment():
    warehouse = OracleWarehouse(
        dsn=os.environ["ORACLE_DSN"],
        user=os.environ["ORACLE_USER"],
        password=os.environ["ORACLE_PASSWORD"],
    )
    deployment = OracleDeployment(warehouse, batch_size=1_000)
    deployment.init_schema()
    deployment.init_schema()  # a second run finds the tables (ORA-00955) and leaves them
    return deployment


@pytest.fixture
def campaign_key(deployment):
    key = f"live-test-{uuid.uuid4().hex[:12]}"
    yield key
    with deployment.warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT campaign_code FROM campaign_ops.campaign_registry WHERE campaign_key = :key",
            {"key": key},
        )
        for (code,) in cursor.fetchall():
            deployment.delete_campaign(code)
        cursor.execute(
            "DELETE FROM campaign_ops.campaign_registry WHERE campaign_key = :key", {"key": key}
        )
        connection.commit()


def _request() -> CampaignRequest:
    return CampaignRequest.model_validate(
        {
            "campaign_type": "RB3",
            "metadata": {
                "campaign_name": "Live test",
                "date_start": "2099-01-01",
                "date_end": "2099-01-31",
            },
            "user_iins": ["900101300123"],
        }
    )


def test_allocation_is_stable_and_visible_in_the_registry(deployment, campaign_key):
    codes = deployment.allocate_codes(campaign_key, _request())
    assert deployment.allocate_codes(campaign_key, _request()) == codes
    assert codes.xls_ow_id and codes.xls_ow_id.startswith("KKB_")
    row = deployment.registry().filter(pl.col("campaign_key") == campaign_key)
    assert row["campaign_code"].to_list() == [codes.campaign_code]
    assert row["date_start"].to_list() == [date(2099, 1, 1)]


def test_replace_round_trip_in_batches(deployment, campaign_key):
    code = deployment.allocate_codes(campaign_key, _request()).campaign_code
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
    code = deployment.allocate_codes(campaign_key, _request()).campaign_code
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
