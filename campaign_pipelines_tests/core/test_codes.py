import pytest

from campaign_pipelines.core.codes import (
    CAMPAIGN_CODES,
    XLS_OW_IDS,
    CodeSeries,
    CodeSpaceExhausted,
    decide_codes,
)


def test_next_codes_follow_the_highest():
    assert CAMPAIGN_CODES.next("C000012345") == "C000012346"
    assert CAMPAIGN_CODES.next(None) == "C000000001"
    assert XLS_OW_IDS.next("KKB_0123") == "KKB_0124"
    assert XLS_OW_IDS.next(None) == "KKB_0001"


def test_end_of_formats_fail_clearly():
    with pytest.raises(CodeSpaceExhausted, match="KKB_9999 is the last .* RB3 owners"):
        XLS_OW_IDS.next("KKB_9999")
    with pytest.raises(CodeSpaceExhausted, match="ends at C000099999 \\(highest is C000099999\\)"):
        CAMPAIGN_CODES.next("C000099999")
    assert CAMPAIGN_CODES.next("C000099998") == "C000099999"


def test_malformed_highest_is_refused():
    with pytest.raises(ValueError, match="'X123' is not a CAMPAIGNCODE \\(C \\+ 9 digits\\)"):
        CAMPAIGN_CODES.next("X123")
    with pytest.raises(ValueError, match="is not an XLS_OW_ID \\(KKB_ \\+ 4 digits\\)"):
        XLS_OW_IDS.next("KKB_12")


def test_highest_counts_only_codes_of_the_series_shape():
    assert CAMPAIGN_CODES.highest(["C000000007", None, "C00000009", "C000000012", ""]) == (
        "C000000012"
    )
    assert XLS_OW_IDS.highest(["KKB_0003", "KKB_12345", "XKB_0009"]) == "KKB_0003"
    assert XLS_OW_IDS.highest([None]) is None


def test_a_series_is_one_small_value():
    series = CodeSeries(name="TEST", prefix="T", width=2, last=3, exhausted="done at {highest}")
    assert [series.next(None), series.next("T01"), series.next("T02")] == ["T01", "T02", "T03"]
    with pytest.raises(CodeSpaceExhausted, match="done at T03"):
        series.next("T03")


# --- which codes a campaign gets ------------------------------------------------------------


class Highest:
    """The highest codes in use, remembering which series were asked for."""

    def __init__(self, code: str | None = "C000000041", xls: str | None = "KKB_0012"):
        self.values = {"CAMPAIGNCODE": code, "XLS_OW_ID": xls}
        self.asked: list[str] = []

    def __call__(self, series: CodeSeries) -> str | None:
        self.asked.append(series.name)
        return self.values[series.name]


def test_a_new_campaign_takes_the_next_codes_and_is_inserted():
    highest = Highest()
    rb1 = decide_codes(None, "RB1", highest)
    assert (rb1.codes.campaign_code, rb1.codes.xls_ow_id) == ("C000000042", None)
    assert (rb1.registry_xls_ow_id, rb1.registry_write) == (None, "insert")
    assert highest.asked == ["CAMPAIGNCODE"]
    rb3 = decide_codes(None, "RB3", Highest())
    assert (rb3.codes.campaign_code, rb3.codes.xls_ow_id) == ("C000000042", "KKB_0013")
    assert rb3.registry_xls_ow_id == "KKB_0013"


def test_a_registered_campaign_keeps_its_codes_and_asks_for_nothing():
    highest = Highest()
    decision = decide_codes(("C000000007", "KKB_0003"), "RB3", highest)
    assert (decision.codes.campaign_code, decision.codes.xls_ow_id) == ("C000000007", "KKB_0003")
    assert decision.registry_write == "update" and highest.asked == []
    # even at the end of a series: nothing new is allocated
    assert decide_codes(("C000000007", None), "RB1", Highest(code="C000099999")).codes


def test_rb3_to_rb1_keeps_the_xls_ow_id_reserved_but_gives_none():
    decision = decide_codes(("C000000007", "KKB_0003"), "RB1", Highest())
    assert decision.codes.xls_ow_id is None
    assert decision.registry_xls_ow_id == "KKB_0003"
    # and back to RB3 takes it up again instead of a new one
    again = decide_codes(("C000000007", decision.registry_xls_ow_id), "RB3", Highest())
    assert again.codes.xls_ow_id == "KKB_0003"


def test_an_rb1_campaign_becoming_rb3_gets_its_first_xls_ow_id():
    highest = Highest()
    decision = decide_codes(("C000000007", None), "RB3", highest)
    assert decision.codes == decision.codes.model_copy(
        update={"campaign_code": "C000000007", "xls_ow_id": "KKB_0013"}
    )
    assert highest.asked == ["XLS_OW_ID"] and decision.registry_write == "update"
