import pytest

from campaign_pipelines.core.codes import (
    CodeSpaceExhausted,
    next_campaign_code,
    next_xls_ow_id,
)


def test_next_codes_follow_the_highest():
    assert next_campaign_code("C000012345") == "C000012346"
    assert next_campaign_code(None) == "C000000001"
    assert next_xls_ow_id("KKB_0123") == "KKB_0124"
    assert next_xls_ow_id(None) == "KKB_0001"


def test_end_of_formats_fail_clearly():
    with pytest.raises(CodeSpaceExhausted, match="KKB_9999"):
        next_xls_ow_id("KKB_9999")
    with pytest.raises(CodeSpaceExhausted, match="C000099999"):
        next_campaign_code("C000099999")


def test_malformed_highest_is_refused():
    with pytest.raises(ValueError, match="C \\+ 9 digits"):
        next_campaign_code("X123")
