"""The SMS campaign file: every field's rule, and the request loader's guards on its text."""

import json
from datetime import UTC, datetime

import pytest

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.campaign import MAX_CAMPAIGN_FILE_BYTES, parse_campaign

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
GOOD = """\
name: dec-cashback
template: "Hi {{ first_name }}! Cashback 5% in December. {{ stop_hint }}"
sender: MyBank
start_at: "2026-12-01T09:00:00+05:00"
prospects:
  campaign_code: C000000123
"""


def parse(text: str, name: str = "dec.yaml"):
    return parse_campaign(text.encode(), name, now=NOW, stop_hint="STOP: 7575")


def problems(text: str, name: str = "dec.yaml") -> list[dict]:
    with pytest.raises(ProblemsError) as caught:
        parse(text, name)
    assert str(caught.value).startswith(f"{name}: ")
    return caught.value.problems


def fields(text: str, name: str = "dec.yaml") -> list[str]:
    return [p["field"] for p in problems(text, name)]


def test_a_good_file_parses_with_its_times_in_utc_and_a_sample_message():
    parsed = parse(GOOD)
    campaign = parsed.campaign
    assert campaign.name == "dec-cashback" and campaign.sender == "MyBank"
    assert campaign.start_at == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    assert campaign.end_at is None and campaign.throttle_per_second is None
    assert campaign.prospects.campaign_code == "C000000123" and campaign.prospects.upload is None
    assert parsed.notes == []
    assert parsed.sample.text.startswith("Hi Айгерім-Гүлнұрсұлтан! Cashback")
    assert parsed.sample.count.encoding == "UCS-2"


def test_the_same_campaign_in_json_or_another_offset_has_the_same_version():
    as_json = json.dumps({"name": "dec-cashback", "sender": "MyBank",
                          "template": "Hi {{ first_name }}! Cashback 5% in December. "
                                      "{{ stop_hint }}",
                          "start_at": "2026-12-01T04:00:00Z",
                          "prospects": {"campaign_code": "C000000123"}})
    assert parse(as_json, "dec.json").version == parse(GOOD).version
    assert parse(as_json, "dec.txt").version == parse(GOOD).version  # sniffed: JSON
    assert parse(GOOD.replace("MyBank", "MyBank2")).version != parse(GOOD).version


def test_unquoted_yaml_times_stay_text_for_the_model_to_read():
    unquoted = GOOD.replace('"2026-12-01T09:00:00+05:00"', "2026-12-01T09:00:00+05:00")
    assert parse(unquoted).campaign.start_at == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    found = problems(GOOD.replace('"2026-12-01T09:00:00+05:00"', "2026-12-01"))
    assert found[0]["field"] == "start_at" and "no UTC offset" in found[0]["problem"]


def test_a_naive_start_is_refused_never_guessed():
    found = problems(GOOD.replace("+05:00", ""))
    assert found[0]["field"] == "start_at" and "no UTC offset" in found[0]["problem"]
    assert "+05:00" in found[0]["fix"]


@pytest.mark.parametrize("value", ['"tomorrow"', '"2026-13-01T09:00:00+05:00"', "1764561600"])
def test_a_start_that_is_not_an_iso_time_is_refused(value):
    assert fields(GOOD.replace('"2026-12-01T09:00:00+05:00"', value)) == ["start_at"]


def test_an_end_before_or_at_the_start_is_refused_naming_end_at():
    for end in ("2026-12-01T08:00:00+05:00", "2026-12-01T04:00:00Z"):
        found = problems(GOOD + f'end_at: "{end}"\n')
        assert [p["field"] for p in found] == ["end_at"]
        assert "is not after start_at" in found[0]["problem"]


def test_an_end_after_the_start_is_kept():
    parsed = parse(GOOD + 'end_at: "2026-12-07T21:00:00+05:00"\n')
    assert parsed.campaign.end_at == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)


def test_a_start_in_the_past_is_a_note_and_an_end_in_the_past_an_error():
    past = GOOD.replace("2026-12-01T09", "2026-11-01T09")
    parsed = parse(past)
    assert parsed.notes and "in the past: the campaign starts now" in parsed.notes[0]
    found = problems(past + 'end_at: "2026-11-02T00:00:00Z"\n')
    assert found[0]["field"] == "end_at" and "passed already" in found[0]["problem"]


@pytest.mark.parametrize("prospects, why", [
    ("{campaign_code: C000000123, upload: list.csv}", "both"),
    ("{}", "neither"),
])
def test_prospects_name_exactly_one_source(prospects, why):
    text = GOOD.replace("prospects:\n  campaign_code: C000000123", f"prospects: {prospects}")
    found = problems(text)
    assert found[0]["field"] == "prospects" and why in found[0]["problem"]


def test_an_upload_is_a_plain_file_name():
    upload = GOOD.replace("campaign_code: C000000123", "upload: Dec List.XLSX")
    assert parse(upload).campaign.prospects.upload == "Dec List.XLSX"
    for bad in ("../secrets.csv", "/etc/x.csv", "a\\\\b.csv", "list.exe", "sub/list.csv", ".x.csv"):
        text = GOOD.replace("campaign_code: C000000123", f'upload: "{bad}"')
        assert fields(text) == ["prospects.upload"], bad


@pytest.mark.parametrize("code", ["C00000012", "C0000001234", "c000000123", "KKB_0001"])
def test_a_campaign_code_is_c_and_nine_digits(code):
    assert fields(GOOD.replace("C000000123", code)) == ["prospects.campaign_code"]


def test_unknown_fields_are_refused():
    found = problems(GOOD + "throttle: 5\n")
    assert found[0]["field"] == "throttle" and "remove this field" in found[0]["fix"]


def test_yaml_1_1_words_stay_text():
    assert parse(GOOD.replace("dec-cashback", "no")).campaign.name == "no"
    found = problems(GOOD + "on: yes\n")
    assert found[0]["field"] == "on"  # a key named "on", not True


def test_identifiers_typed_as_numbers_by_yaml_are_refused_with_quotes_as_the_fix():
    found = problems(GOOD.replace("sender: MyBank", "sender: 7575"))
    assert found[0]["field"] == "sender" and "is a number" in found[0]["problem"]
    assert "quotes" in found[0]["fix"]
    assert parse(GOOD.replace("sender: MyBank", 'sender: "7575"')).campaign.sender == "7575"


def test_an_alias_bomb_is_refused_before_it_expands():
    bomb = GOOD + 'x: &a ["lol","lol"]\ny: &b [*a,*a,*a,*a]\nz: [*b,*b,*b,*b]\n'
    found = problems(bomb)
    assert "aliases are not accepted" in found[0]["problem"]


def test_duplicate_keys_are_refused_in_yaml_and_json():
    assert "given twice" in problems(GOOD + "name: other\n")[0]["problem"]
    found = problems('{"name": "a", "name": "b"}', "c.json")
    assert found[0]["field"] == "name" and "given twice" in found[0]["problem"]


@pytest.mark.parametrize("sender", ["MyBank", "My Bank 24", "7575", "+77012345678",
                                    "MG" + "0" * 32])
def test_senders_that_providers_accept(sender):
    assert parse(GOOD.replace("MyBank", f'"{sender}"')).campaign.sender == sender


@pytest.mark.parametrize("sender", ["MyBankInternational", "12", "My-Bank", "+0123", ""])
def test_senders_that_providers_refuse(sender):
    assert fields(GOOD.replace("MyBank", f'"{sender}"')) == ["sender"]


@pytest.mark.parametrize("name", ["Dec", "-dec", "a" * 65, "dec cashback", "dec/../x",
                                  "dec\\n"])
def test_names_are_lower_case_identifiers_of_at_most_64_characters(name):
    assert fields(GOOD.replace("dec-cashback", f'"{name}"')) == ["name"]


@pytest.mark.parametrize("rate, ok", [("10", True), ("0.5", True), ("0", False), ("-1", False),
                                      ("1001", False), ("true", False), ('"10"', False)])
def test_throttle_is_a_positive_bounded_number(rate, ok):
    text = GOOD + f"throttle_per_second: {rate}\n"
    if ok:
        assert parse(text).campaign.throttle_per_second == float(rate)
    else:
        assert fields(text) == ["throttle_per_second"]


def test_template_problems_are_reported_with_the_fields_problems_in_one_go():
    bad_template = GOOD.replace("{{ first_name }}", "{{ firstname }}")
    found = problems(bad_template)
    assert found == [{"field": "template",
                      "problem": "unknown variable 'firstname' (did you mean first_name?)",
                      "fix": "use only first_name, campaign, stop_hint as variables"}]
    ended = bad_template.replace("2026-12-01T09", "2026-11-01T09") + 'end_at: "2026-11-02T00:00Z"\n'
    assert [p["field"] for p in problems(ended)] == ["end_at", "template"]
    # A field the model refuses stops before the template is looked at.
    assert fields(bad_template.replace("MyBank", '"My-Bank"')) == ["sender"]


def test_the_document_must_be_a_small_utf8_mapping():
    assert fields("- a\n- b\n") == ["<document>"]
    with pytest.raises(ProblemsError, match="not UTF-8"):
        parse_campaign(b"name: \xff\n", "x.yaml", now=NOW, stop_hint="")
    with pytest.raises(ProblemsError, match="more than"):
        parse_campaign(b"#" * (MAX_CAMPAIGN_FILE_BYTES + 1), "x.yaml", now=NOW, stop_hint="")
    bom = "\ufeff" + GOOD
    assert parse(bom).campaign.name == "dec-cashback"


def test_missing_fields_are_each_named():
    assert set(fields("name: x\n")) == {"template", "sender", "start_at", "prospects"}
