"""The rules a deployment follows, without Dagster: which dictionary a campaign type writes, which
tables hold none of its rows, which off-limit holds count against it, which seed splits it."""

from datetime import date, datetime

import polars as pl
import pytest

from campaign_pipelines.core import deployment as tables
from campaign_pipelines.core.audience import held_off_keys, off_limit_query
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.requests import ControlGroup, parse_request
from campaign_pipelines.core.split import split_seed
from campaign_pipelines_tests.bank import request_text

LOADED = datetime(2026, 11, 29, 8, 0)
DICTIONARIES = (tables.MB01_CAMP_DICT, tables.RB3_TR_CAMPAIGN_DICT)


@pytest.mark.parametrize(
    ("campaign_type", "own", "other"),
    [("RB1", tables.MB01_CAMP_DICT, tables.RB3_TR_CAMPAIGN_DICT),
     ("RB3", tables.RB3_TR_CAMPAIGN_DICT, tables.MB01_CAMP_DICT)],
)
def test_a_campaign_type_writes_its_own_dictionary_and_empties_the_other(
    campaign_type, own, other
):
    request = parse_request(request_text(campaign_type=campaign_type))
    codes = CampaignCodes(campaign_code="C000000042", xls_ow_id="KKB_0007")
    assert tables.metadata_table(request) is own
    mine = tables.dictionary_rows(own, request, codes, LOADED)
    assert mine["CAMPAIGNCODE"].to_list() == ["C000000042"]
    assert mine["LOAD_DATE"].to_list() == [LOADED]
    assert tables.holds_none_because(own, request) is None
    theirs = tables.dictionary_rows(other, request, codes, LOADED)
    assert theirs.height == 0 and theirs.columns == other.column_names
    assert tables.holds_none_because(other, request) == (
        f"{campaign_type} campaigns keep their metadata elsewhere"
    )


def test_only_rb3_rows_carry_the_xls_ow_id():
    rb3 = parse_request(request_text(campaign_type="RB3"))
    codes = CampaignCodes(campaign_code="C000000042", xls_ow_id="KKB_0007")
    rows = tables.dictionary_rows(tables.RB3_TR_CAMPAIGN_DICT, rb3, codes, LOADED)
    assert rows["XLS_OW_ID"].to_list() == ["KKB_0007"]
    assert "XLS_OW_ID" not in tables.MB01_CAMP_DICT.column_names


def test_the_control_table_holds_none_without_a_control_group():
    without = parse_request(request_text())
    with_control = parse_request(request_text(control_group={"share": 0.2}))
    reason = tables.holds_none_because(tables.MB21_LOCAL_CONTROL, without)
    assert reason == "the request has no control group"
    assert tables.holds_none_because(tables.MB21_LOCAL_CONTROL, with_control) is None
    assert tables.holds_none_because(tables.MB22_LOCAL_TARGET, without) is None


# --- off-limit ------------------------------------------------------------------------------

REGISTRY = pl.DataFrame({
    "campaign_key": ["spring", "autumn"],
    "campaign_code": ["C000000007", "C000000008"],
})


def test_off_limit_excludes_the_campaigns_own_code():
    request = parse_request(request_text(off_limit_days=10))
    query = off_limit_query(request, REGISTRY, "spring")
    assert query.own_code == "C000000007"
    # March 2024 campaign, 10 days back from its start
    assert (query.window_from, query.window_to) == (date(2024, 2, 20), date(2024, 3, 31))


def test_a_new_campaign_excludes_no_code_and_no_request_means_no_filter():
    request = parse_request(request_text(off_limit_days=0))
    assert off_limit_query(request, REGISTRY, "brand-new").own_code is None
    assert off_limit_query(parse_request(request_text()), REGISTRY, "spring") is None


def test_held_off_iins_become_join_keys_and_malformed_ones_are_dropped():
    held = pl.DataFrame({"iin": ["012345678901", "not-an-iin"]})
    assert held_off_keys(held)["iin_key"].to_list() == [12345678901]


# --- split seed -----------------------------------------------------------------------------


def test_the_split_seed_is_the_requests_else_the_campaign_key():
    assert split_seed(ControlGroup(share=0.1, seed="fixed"), "spring") == "fixed"
    assert split_seed(ControlGroup(share=0.1), "spring") == "spring"
    assert split_seed(ControlGroup(share=0.1, seed=""), "spring") == "spring"
    assert split_seed(None, "spring") == "spring"
