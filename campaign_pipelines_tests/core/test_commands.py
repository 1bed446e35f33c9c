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
    SMS_COMMAND_MODELS,
    DeleteCommand,
    SmsCancelCommand,
    SmsPauseCommand,
    SmsResumeCommand,
    parse_command,
)
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.registry import registry_code
from campaign_pipelines.core.sms.lifecycle import PEOPLE_COMMANDS
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
    assert COMMAND_NAMES == ("delete", "sms_pause", "sms_resume", "sms_cancel")


@pytest.mark.parametrize(("data", "field", "fix"), [
    (orjson.dumps({**GOOD, "reason": "x"}), "reason", "remove this field"),
    (orjson.dumps({k: v for k, v in GOOD.items() if k != "campaign_code"}), "campaign_code",
     "add this field"),
    (orjson.dumps({**GOOD, "command": "sms_stop"}), "command",
     "use one of: delete, sms_pause, sms_resume, sms_cancel"),
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


SMS = {"command": "sms_pause", "campaign": "dec-cashback",
       "requested_at": "2026-11-30T01:20:05.123456+00:00"}


@pytest.mark.parametrize(("name", "model", "lifecycle"), [
    ("sms_pause", SmsPauseCommand, "pause"),
    ("sms_resume", SmsResumeCommand, "resume"),
    ("sms_cancel", SmsCancelCommand, "cancel"),
])
def test_the_sms_commands_name_a_campaign_and_the_lifecycle_command(name, model, lifecycle):
    command = parse_command(orjson.dumps({**SMS, "command": name}))
    assert isinstance(command, model)
    assert (command.command, command.campaign, command.lifecycle) == (
        name, "dec-cashback", lifecycle)
    assert command.requested_at == datetime(2026, 11, 30, 1, 20, 5, 123456, tzinfo=UTC)


def test_the_sms_commands_are_the_lifecycle_s_people_commands():
    assert tuple(model.lifecycle for model in SMS_COMMAND_MODELS) == PEOPLE_COMMANDS
    assert {f"sms_{command.value}" for command in PEOPLE_COMMANDS} <= set(COMMAND_NAMES)


@pytest.mark.parametrize(("data", "field", "fix"), [
    (orjson.dumps({**SMS, "campaign": "Dec-Cashback"}), "campaign", "dec-cashback"),
    (orjson.dumps({**SMS, "campaign": "dec-cashback\n"}), "campaign", "dec-cashback"),
    (orjson.dumps({**SMS, "campaign": "-dec"}), "campaign", "dec-cashback"),
    (orjson.dumps({**SMS, "campaign": "d" * 65}), "campaign", "dec-cashback"),
    (orjson.dumps({**SMS, "campaign": 7}), "campaign", "correct the value"),
    (orjson.dumps({k: v for k, v in SMS.items() if k != "campaign"}), "campaign", "add"),
    (orjson.dumps({**SMS, "campaign_code": "C000000123"}), "campaign_code", "remove"),
    (orjson.dumps({**SMS, "requested_at": "2026-11-30T01:20:05"}), "requested_at", "offset"),
])
def test_a_bad_sms_command_is_refused_naming_the_field(data, field, fix):
    problems = problems_of(data)
    assert problems[0]["field"] == field, problems
    assert fix in problems[0]["fix"]
