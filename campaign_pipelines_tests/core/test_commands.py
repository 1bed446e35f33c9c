"""core/commands.py without Dagster: a command file's bytes become a command, or problems that
name the field and the fix; the campaign a reference names; what a report may show of it."""

from datetime import UTC, datetime

import orjson
import polars as pl
import pytest

from campaign_pipelines.core.commands import (
    CAMPAIGN_REF,
    COMMAND_NAMES,
    MAX_COMMAND_BYTES,
    DeleteCommand,
    parse_command,
)
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.registry import registry_code
from campaign_pipelines.ingress import campaigns_api

GOOD = {"command": "delete", "campaign_code": "C000000123",
        "requested_at": "2026-11-30T01:20:05.123456+00:00"}


def problems_of(data: bytes) -> list[dict]:
    with pytest.raises(ProblemsError) as refused:
        parse_command(data)
    return refused.value.problems


def test_the_ingress_delete_body_is_a_delete_command():
    command = parse_command(orjson.dumps(GOOD))
    assert isinstance(command, DeleteCommand)
    assert (command.command, command.campaign_code) == ("delete", "C000000123")
    assert command.requested_at == datetime(2026, 11, 30, 1, 20, 5, 123456, tzinfo=UTC)


def test_the_code_rule_is_the_ingress_rule():
    assert CAMPAIGN_REF.pattern == campaigns_api._CODE.pattern
    assert COMMAND_NAMES == ("delete",)


@pytest.mark.parametrize(("data", "field", "fix"), [
    (orjson.dumps({**GOOD, "reason": "x"}), "reason", "remove this field"),
    (orjson.dumps({k: v for k, v in GOOD.items() if k != "campaign_code"}), "campaign_code",
     "add this field"),
    (orjson.dumps({**GOOD, "command": "sms_pause"}), "command", "use one of: delete"),
    (orjson.dumps({k: v for k, v in GOOD.items() if k != "command"}), "command", "add"),
    (orjson.dumps({**GOOD, "requested_at": "2026-11-30T01:20:05"}), "requested_at", "offset"),
    (orjson.dumps({**GOOD, "requested_at": "yesterday"}), "requested_at", "offset"),
    (orjson.dumps({**GOOD, "campaign_code": "C000000123\n"}), "campaign_code", "CAMPAIGNCODE"),
    (orjson.dumps({**GOOD, "campaign_code": ""}), "campaign_code", "CAMPAIGNCODE"),
    (b'{"command": "delete", "command": "delete"}', "command", "keep one"),
    (b"", "<document>", "send one object"),
    (b"\n \n", "<document>", "send one object"),
    (b"[]", "<document>", "send one object"),
    (b'{"command": ', "<document>", "JSON"),
    (b"\xff\xfe{}", "<document>", "UTF-8"),
    (b" " * (MAX_COMMAND_BYTES + 1), "<document>", "one command per file"),
])
def test_a_bad_file_is_refused_naming_the_field_and_the_fix(data, field, fix):
    [problem] = problems_of(data)
    assert problem["field"] == field
    assert fix in problem["fix"]


def test_a_refused_code_is_never_quoted():
    [problem] = problems_of(orjson.dumps({**GOOD, "campaign_code": "850315300100 x"}))
    assert "850315300100" not in str(problem)


def test_a_bom_is_no_mistake():
    assert parse_command(b"\xef\xbb\xbf" + orjson.dumps(GOOD)).campaign_code == "C000000123"


REGISTRY = pl.DataFrame({"campaign_key": ["spring", "loyalty"],
                         "campaign_code": ["C000000001", "C000000002"],
                         "xls_ow_id": [None, "KKB_0001"]})


@pytest.mark.parametrize(("ref", "code"), [
    ("C000000002", "C000000002"), ("KKB_0001", "C000000002"), ("spring", "C000000001"),
    ("autumn", None), ("KKB_0002", None),
])
def test_a_campaign_is_found_by_its_code_its_xls_ow_id_or_its_key(ref, code):
    assert registry_code(REGISTRY, ref) == code


def test_reports_show_codes_whole_and_anything_else_masked():
    assert masked("C000000123") == "C000000123"
    assert masked("KKB_0042") == "KKB_0042"
    assert masked("spring_push") == "spring_push"
    assert "850315300100" not in masked("850315300100")
    named = "delete-C000000001-20261130T033210127716Z.json"  # the ingress's file name
    assert masked(named) == named
