"""parse_request against hostile and careless documents: duplicate keys, YAML typing, aliases,
size, and values the warehouse could not store."""

from __future__ import annotations

import json
import re
import time
from datetime import date

import pytest

from campaign_pipelines.adapters.warehouse.ddl import column_type
from campaign_pipelines.core import deployment
from campaign_pipelines.core.requests import (
    MAX_REQUEST_BYTES,
    VARCHAR2_MAX_BYTES,
    CampaignMetadata,
    RequestError,
    parse_request,
)
from campaign_pipelines_tests.bank import SEED_REQUEST, request_text

YAML_REQUEST = """\
campaign_type: RB1
metadata:
  campaign_name: Spring
  date_start: 2026-03-01
  date_end: 2026-03-31
{extra}user_iins:
  - 850315300100
"""


def _problems(text: str, **kwargs) -> list[dict]:
    with pytest.raises(RequestError) as caught:
        parse_request(text, **kwargs)
    return caught.value.problems


def _yaml(extra: str = "", **replace: str) -> str:
    text = YAML_REQUEST.format(extra=extra)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


# --- duplicate keys -------------------------------------------------------------------------


def test_json_duplicate_key_is_refused_naming_its_path_and_lines():
    text = """{
  "campaign_type": "RB1",
  "metadata": {"campaign_name": "X", "date_start": "2026-03-01", "date_end": "2026-03-31"},
  "user_iins": ["850315300100"],
  "filter_config": {
    "blacklist_tables": ["ACRM"],
    "mau_only": true,
    "blacklist_tables": []
  }
}"""
    assert _problems(text) == [
        {
            "field": "filter_config.blacklist_tables",
            "problem": "the key 'blacklist_tables' is given twice (lines 6 and 8)",
            "fix": "keep one",
        }
    ]


def test_json_duplicate_top_level_key_on_one_line():
    text = request_text()[:-1] + ', "campaign_type": "RB3"}'
    (problem,) = _problems(text)
    assert problem["field"] == "campaign_type" and problem["fix"] == "keep one"
    assert "lines 1 and 1" in problem["problem"]


def test_duplicate_in_a_long_json_names_the_key_without_lines():
    text = request_text(user_iins=["850315300100"] * 80_000)[:-1] + ', "user_iins": []}'
    assert _problems(text) == [
        {"field": "user_iins", "problem": "the key 'user_iins' is given twice", "fix": "keep one"}
    ]


def test_duplicate_inside_characteristic_json_text():
    (problem,) = _problems(_with_meta(characteristic_json='{"min": 1, "min": 2}'))
    assert problem["field"] == "metadata.characteristic_json"
    assert "the key 'min' is given twice" in problem["problem"]


def test_yaml_duplicate_key_is_refused_naming_its_path_and_lines():
    text = _yaml("filter_config:\n  mau_only: true\n  devices: [iOS]\n  mau_only: false\n")
    assert _problems(text, yaml_syntax=True) == [
        {
            "field": "filter_config.mau_only",
            "problem": "the key 'mau_only' is given twice (lines 7 and 9)",
            "fix": "keep one",
        }
    ]


def test_duplicate_inside_a_list_item_names_the_index():
    text = _yaml("filter_config: {devices: [iOS]}\n", **{"  - 850315300100": "  - {a: 1, a: 2}"})
    assert _problems(text, yaml_syntax=True)[0]["field"] == "user_iins[0].a"


# --- YAML typing ----------------------------------------------------------------------------


def test_yaml_iins_are_the_text_written():
    items = "  - 010203040506\n  - 0o17\n  - '010203040507'\n  - 12_345\n  - 1.2e11\n  - null\n"
    text = _yaml(**{"  - 850315300100\n": items})
    request = parse_request(text, yaml_syntax=True)
    assert request.user_iins == ["010203040506", "0o17", "010203040507", "12_345", "1.2e11", "null"]


def test_yaml_numbers_follow_yaml_1_2():
    text = _yaml(**{"  campaign_name: Spring\n": "  campaign_name: Spring\n  camp_cnt: 050000\n"})
    assert parse_request(text, yaml_syntax=True).metadata.camp_cnt == 50000


@pytest.mark.parametrize("word", ["Off", "NO", "yes", "y", "12:30", "1_000"])
def test_yaml_words_and_sexagesimals_stay_text(word):
    text = _yaml(**{"campaign_name: Spring": f"campaign_name: {word}"})
    assert parse_request(text, yaml_syntax=True).metadata.campaign_name == word


def test_yaml_sexagesimal_is_no_number():
    text = _yaml(**{"  campaign_name: Spring\n": "  campaign_name: Spring\n  camp_cnt: 1:30\n"})
    assert _problems(text, yaml_syntax=True)[0]["field"] == "metadata.camp_cnt"


def test_yaml_booleans_nulls_and_dates():
    extra = "filter_config: {mau_only: true}\nstrict_iin_checksum: False\ncontrol_group: ~\n"
    request = parse_request(_yaml(extra), yaml_syntax=True)
    assert request.filter_config.mau_only is True and request.strict_iin_checksum is False
    assert request.control_group is None
    assert request.metadata.date_start == date(2026, 3, 1)


def test_yaml_characteristic_json_may_hold_a_date():
    meta = "  campaign_name: S\n  characteristic_json: {from: 2026-03-01}\n"
    text = _yaml(**{"  campaign_name: Spring\n": meta})
    request = parse_request(text, yaml_syntax=True)
    assert request.metadata.characteristic_json == '{"from": "2026-03-01"}'


def test_yaml_errors_do_not_quote_the_text():
    for text in ("user_iins: [850315300100\n", "user_iins: !!int 8503-1530-0100\n"):
        (problem,) = _problems(text, yaml_syntax=True)
        assert "8503" not in problem["problem"] and problem["field"] == "<document>"


def test_yaml_python_tag_is_refused():
    text = _yaml("deploy_options: !!python/object/apply:os.system ['true']\n")
    assert _problems(text, yaml_syntax=True)[0]["field"] == "<document>"


# --- aliases and size -----------------------------------------------------------------------


def test_yaml_alias_is_refused():
    text = _yaml("filter_config: {devices: &d [iOS], products: *d}\n")
    (problem,) = _problems(text, yaml_syntax=True)
    assert problem["field"] == "filter_config.products"
    assert "anchors and aliases are not accepted in a request" in problem["problem"]
    assert problem["fix"] == "write the values out"


def test_billion_laughs_is_refused_at_once():
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    bomb = "\n".join(levels) + "\n"
    assert len(bomb) < 1500
    started = time.monotonic()
    (problem,) = _problems(bomb, yaml_syntax=True)
    assert time.monotonic() - started < 5
    assert problem["field"] == "a1[0]" and "aliases are not accepted" in problem["problem"]


def test_oversized_request_is_refused_before_parsing():
    (problem,) = _problems(" " * (MAX_REQUEST_BYTES + 1))
    assert problem["field"] == "<document>"
    assert f"{MAX_REQUEST_BYTES + 1} bytes" in problem["problem"]
    assert "landing/uploads" in problem["fix"] and "user_files" in problem["fix"]


@pytest.mark.parametrize("yaml_syntax", [False, True], ids=["json", "yaml"])
def test_deep_nesting_is_refused_not_a_crash(yaml_syntax):
    (problem,) = _problems("[" * 100_000 + "]" * 100_000, yaml_syntax=yaml_syntax)
    assert problem["field"] == "<document>" and "nest" in problem["problem"]


def test_size_counts_utf8_bytes_not_characters():
    text = "я" * (MAX_REQUEST_BYTES // 2 + 1)  # fewer characters than the limit, more bytes
    assert "more than" in _problems(text, yaml_syntax=True)[0]["problem"]


# --- bounds the warehouse can store ---------------------------------------------------------


def _with_meta(**changes) -> str:
    return request_text(metadata={**SEED_REQUEST["metadata"], **changes})


@pytest.mark.parametrize(
    ("value", "fix_part"),
    [(1e20, "999999999999"), (10**12, "999999999999"), (12.5, "whole number"), (-1, "0")],
)
def test_camp_cnt_must_fit_number_12(value, fix_part):
    (problem,) = _problems(_with_meta(camp_cnt=value))
    assert problem["field"] == "metadata.camp_cnt" and fix_part in problem["fix"]


def test_camp_cnt_at_the_bound_and_json_exponent_text():
    assert parse_request(_with_meta(camp_cnt=999_999_999_999)).metadata.camp_cnt == 999_999_999_999
    assert _problems(request_text().replace('"50000"', "1e20"))[0]["field"] == "metadata.camp_cnt"


@pytest.mark.parametrize("field", ["date_start", "date_end", "out_date"])
@pytest.mark.parametrize("day", ["1999-12-31", "2101-01-01", "9999-12-31"])
def test_dates_are_within_2000_and_2100(field, day):
    changes = {"date_start": "2000-01-01", "date_end": "2100-12-31", field: day}
    problems = _problems(_with_meta(**changes))
    assert problems[0]["field"] == f"metadata.{field}"
    assert "2000-01-01" in problems[0]["fix"] and "2100-12-31" in problems[0]["fix"]


def _varchar_columns() -> list[tuple[str, int]]:
    """Every metadata column the dictionaries store as VARCHAR2(n CHAR), from deployment's DDL."""
    fields = {name.upper() for name in CampaignMetadata.model_fields}
    limits = []
    for name, kind in deployment.RB3_TR_CAMPAIGN_DICT.columns:
        match = re.fullmatch(r"VARCHAR2\((\d+) CHAR\)", column_type(kind, "oracle"))
        if match and name in fields:
            limits.append((name.lower(), int(match.group(1))))
    return limits


def _text_of(field: str, characters: int, letter: str = "я") -> str:
    """``characters`` characters of ``letter`` (as JSON text for characteristic_json)."""
    if field == "characteristic_json":
        return json.dumps(letter * (characters - 2), ensure_ascii=False)
    return letter * characters


def test_every_varchar_column_is_bounded():
    assert {"campaign_name", "campaign_desc", "bonus", "characteristic_json"} <= {
        f for f, _ in _varchar_columns()
    }


@pytest.mark.parametrize(("field", "limit"), _varchar_columns())
def test_text_fields_fit_their_column_in_characters(field, limit):
    # Latin letters: at the limit in characters and bytes alike, so only characters can refuse.
    fits = _text_of(field, limit, "x")
    stored = getattr(parse_request(_with_meta(**{field: fits})).metadata, field)
    assert len(stored) == limit
    over = _text_of(field, limit + 1, "x")
    (problem,) = _problems(_with_meta(**{field: over}))
    assert problem["field"] == f"metadata.{field}"
    assert f"is {limit + 1} characters, more than the {limit}" in problem["problem"]
    assert f"at most {limit} characters" in problem["fix"]


@pytest.mark.parametrize(("field", "limit"), _varchar_columns())
def test_cyrillic_text_fits_in_characters_up_to_varchar2s_4000_bytes(field, limit):
    characters = min(limit, VARCHAR2_MAX_BYTES // 2)  # a Cyrillic letter is 2 bytes
    fits = _text_of(field, characters)
    stored = getattr(parse_request(_with_meta(**{field: fits})).metadata, field)
    assert len(stored) == characters
    if limit * 2 <= VARCHAR2_MAX_BYTES:
        return  # the column holds its every character in Cyrillic
    (problem,) = _problems(_with_meta(**{field: _text_of(field, characters + 2)}))
    assert problem["field"] == f"metadata.{field}"
    assert f"more than the {VARCHAR2_MAX_BYTES} an Oracle VARCHAR2" in problem["problem"]
    assert f"at most {VARCHAR2_MAX_BYTES} bytes" in problem["fix"]


def _with_seed(seed: str) -> str:
    return request_text(control_group={"share": 0.1, "seed": seed})


def test_seed_is_at_most_64_characters():
    assert parse_request(_with_seed("s" * 64)).control_group.seed == "s" * 64
    (problem,) = _problems(_with_seed("s" * 65))
    assert problem["field"] == "control_group.seed" and "64" in problem["fix"]


# --- user_iins item types -------------------------------------------------------------------


def test_json_iins_may_be_text_or_whole_numbers():
    request = parse_request(request_text(user_iins=["010203040506", 10203040506]))
    assert request.user_iins == ["010203040506", "10203040506"]


@pytest.mark.parametrize("item", [1.23e11, 850315300100.0, True])
def test_json_iin_that_is_not_text_or_integer_is_refused_naming_its_index(item):
    (problem,) = _problems(request_text(user_iins=["850315300100", item]))
    assert problem["field"] == "user_iins[1]"
    assert "quotes" in problem["fix"]


def test_a_huge_json_integer_is_refused_not_a_crash():
    from campaign_pipelines.core.requests import RequestError, parse_request
    from campaign_pipelines_tests.bank import request_text

    text = request_text().replace('"50000"', "9" * 5000)
    with pytest.raises(RequestError) as refused:
        parse_request(text)
    assert refused.value.problems[0]["field"] == "<document>"


def test_deeply_nested_characteristic_json_text_is_refused_not_a_crash():
    from campaign_pipelines.core.requests import RequestError, parse_request
    from campaign_pipelines_tests.bank import request_text

    deep = "[" * 100_000 + "]" * 100_000
    body = json.loads(request_text(campaign_type="RB3"))
    body["metadata"]["characteristic_json"] = deep
    with pytest.raises(RequestError) as refused:
        parse_request(json.dumps(body))
    assert refused.value.problems[0]["field"] == "metadata.characteristic_json"
