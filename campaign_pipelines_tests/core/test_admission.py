"""The key-claim rule: a live campaign is never replaced by accident."""

import pytest

from campaign_pipelines.core.admission import AdmissionRefused, Claim, Outcome, decide
from campaign_pipelines.core.requests import RequestError

HELD = Claim(
    key="promo",
    version="aaaaaaaaaaaaaaaa",
    campaign_name="Spring",
    source_file="promo.json",
    admitted_at="2026-11-29T10:00:00+00:00",
    campaign_code="C000000012",
)


def test_a_free_key_is_admitted_as_new():
    assert decide("promo", "b" * 16, current=None, replaces=None) is Outcome.NEW


def test_the_same_content_again_rebuilds_the_same_version():
    assert decide("promo", HELD.version, current=HELD, replaces=None) is Outcome.SAME


def test_different_content_under_a_taken_key_is_refused_naming_the_campaign_and_the_way_out():
    with pytest.raises(AdmissionRefused) as refused:
        decide("promo", "b" * 16, current=HELD, replaces=None)
    problem = refused.value.problems[0]
    assert "C000000012" in problem["problem"] and "'Spring'" in problem["problem"]
    assert "promo.json" in problem["problem"]
    assert "replaces: C000000012" in problem["fix"] and "--replace" in problem["fix"]
    assert isinstance(refused.value, RequestError)  # refused like any request that cannot run


@pytest.mark.parametrize("replaces", ["promo", "C000000012"])
def test_replaces_naming_the_key_or_its_code_replaces_on_purpose(replaces):
    assert decide("promo", "b" * 16, current=HELD, replaces=replaces) is Outcome.REPLACE


def test_the_command_line_flag_replaces_on_purpose():
    assert decide("promo", "b" * 16, current=HELD, replaces=None, replace=True) is Outcome.REPLACE


def test_replaces_naming_another_campaign_is_refused():
    with pytest.raises(AdmissionRefused) as refused:
        decide("promo", "b" * 16, current=HELD, replaces="summer")
    assert refused.value.problems[0]["field"] == "replaces"
    assert "summer.json" in refused.value.problems[0]["fix"]


def test_a_claim_without_a_code_yet_is_named_by_its_key():
    queued = Claim(**{**HELD.__dict__, "campaign_code": None})
    with pytest.raises(AdmissionRefused) as refused:
        decide("promo", "b" * 16, current=queued, replaces=None)
    assert "no code yet" in refused.value.problems[0]["problem"]
    assert "replaces: promo" in refused.value.problems[0]["fix"]
