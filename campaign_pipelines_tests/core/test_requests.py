import pytest

from campaign_pipelines.core.requests import (
    CampaignType,
    RequestError,
    check_blacklist_names,
    parse_request,
)
from campaign_pipelines_tests.bank import ACRM, request_text


def _problems(text: str, **kwargs) -> list[dict]:
    with pytest.raises(RequestError) as caught:
        parse_request(text, **kwargs)
    return caught.value.problems


def test_legacy_example_parses_with_defaults():
    request = parse_request(request_text())
    assert request.campaign_type is CampaignType.RB1
    assert request.metadata.camp_cnt == 50000  # the legacy body sends it as text
    assert request.deploy_options.deploy_users and request.control_group is None
    assert request.filter_config.push_streams == [] and not request.strict_iin_checksum


def test_yaml_request():
    text = (
        "campaign_type: RB3\nmetadata: {campaign_name: X, date_start: 2026-12-01, "
        "date_end: 2026-12-31, characteristic_json: {min_spend: 1}}\nuser_iins: [1234]\n"
    )
    request = parse_request(text, yaml_syntax=True)
    assert request.metadata.characteristic_json == '{"min_spend": 1}'
    assert request.user_iins == ["1234"]


@pytest.mark.parametrize(
    ("changes", "field", "fix_part"),
    [
        ({"campaign_type": "RB2"}, "campaign_type", "'RB1' or 'RB3'"),
        ({"user_iins": None}, "<request>", "correct"),
        ({"mau_only": True}, "mau_only", "spelling"),
        ({"user_files": ["../etc/passwd.csv"]}, "user_files", "correct"),
        ({"control_group": {"share": 1.5}}, "control_group.share", "correct"),
        (
            {"control_group": {"share": 0.1, "stratify_by": ["age"]}},
            "control_group.stratify_by[0]",
            "device",
        ),
    ],
)
def test_bad_fields_are_named_with_a_fix(changes, field, fix_part):
    problems = _problems(request_text(**changes))
    assert problems[0]["field"] == field
    assert fix_part in problems[0]["fix"]


def test_bad_dates_and_period():
    text = request_text(
        metadata={"campaign_name": "X", "date_start": "01.03.2024", "date_end": "2024-03-31"}
    )
    assert _problems(text)[0] == {
        "field": "metadata.date_start",
        "problem": _problems(text)[0]["problem"],
        "fix": "write the date as YYYY-MM-DD",
    }
    backwards = request_text(
        metadata={"campaign_name": "X", "date_start": "2024-03-31", "date_end": "2024-03-01"}
    )
    assert "before date_start" in _problems(backwards)[0]["problem"]


def test_not_an_object_and_bad_syntax():
    assert _problems("[1, 2]")[0]["field"] == "<document>"
    assert "char" in _problems('{"campaign_type": ')[0]["problem"]


def test_blacklist_names_must_be_configured():
    request = parse_request(request_text(filter_config={"blacklist_tables": [ACRM, "users"]}))
    problems = check_blacklist_names(request, [ACRM, "BL_No_worker"])
    assert problems == [
        {
            "field": "filter_config.blacklist_tables[1]",
            "problem": "unknown name 'users'",
            "fix": f"use one of: {ACRM}, BL_No_worker",
        }
    ]
