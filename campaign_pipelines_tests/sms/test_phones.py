"""Phone numbers as Excel and CSV exports mangle them → E.164, reasons and counts."""

import random

import polars as pl
import pytest

from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.phones import (
    normalise_phone,
    normalise_phones,
    one_number_per_customer,
    phone_column,
    recipient_time_zone,
)


@pytest.mark.parametrize("raw", ["+77012345678", "87012345678", "8 (701) 234-56-78",
                                 "+7 701 234 5678", "7012345678", "77012345678",
                                 "+7-701-234-56-78", "８７０１２３４５６７８"])
def test_one_kazakh_mobile_written_every_way(raw):
    assert normalise_phone(raw) == ("+77012345678", None)


@pytest.mark.parametrize("raw, reason", [
    ("123", "too short"),
    ("n/a", "not a phone number"),
    ("+77272501234", "a fixed-line number, which cannot receive SMS"),
    ("88000808888", "a toll-free number, which cannot receive SMS"),
    ("8 701 234 5678 ext. 12", "has an extension, which an SMS cannot reach"),
    ("+999123456789", "unknown country code"),
])
def test_numbers_that_cannot_take_an_sms_say_why(raw, reason):
    assert normalise_phone(raw) == (None, reason)


def test_foreign_mobiles_written_with_plus_are_kept():
    assert normalise_phone("+447911123456") == ("+447911123456", None)
    assert normalise_phone("+1 202 555 0123") == ("+12025550123", None)


def test_a_list_is_normalised_with_outcomes_that_add_up():
    raw = ["7.70123E+10", "8 (701) 234-56-78", "+7 701 234 5678", "'87012345678",
           "77012345678.0", None, "   ", "n/a", "+77272501234", "+7 777 123 45 67"]
    phones = normalise_phones(pl.DataFrame({"iin": [str(i) for i in range(10)], "phone": raw}))
    assert phones.counts == {"rows": 10, "valid": 2, "invalid": 5, "duplicate": 3}
    rows = phones.rows
    assert rows.columns == ["iin", "phone", "phone_e164", "phone_outcome", "phone_problem"]
    assert rows["phone_outcome"].to_list() == [
        "invalid", "valid", "duplicate", "duplicate", "duplicate", "invalid", "invalid",
        "invalid", "invalid", "valid"]
    assert rows["phone_problem"].to_list() == [
        "written in scientific notation by a spreadsheet: digits were lost", None, None, None,
        None, "empty", "empty", "not a phone number",
        "a fixed-line number, which cannot receive SMS", None]
    assert phones.recipients()["phone_e164"].to_list() == ["+77012345678", "+77771234567"]
    assert phones.recipients()["iin"].to_list() == ["1", "9"]  # the first row of each number


def test_a_campaign_customer_with_two_valid_numbers_gets_one_message_at_the_first():
    frame = pl.DataFrame({"target_iin": ["a", "a", "b", "c", "b"],
                          "phone": ["+7 701 234 5678", "+7 777 123 45 67", "87051112233",
                                    "n/a", "+77051112233"]})
    phones = normalise_phones(frame)
    valid, counts = one_number_per_customer(phones, customers=4, customers_with_a_number=3)
    assert valid.select("target_iin", "phone_e164").rows() == [
        ("a", "+77012345678"), ("b", "+77051112233")]
    # a's second number and b's repeat are duplicates; c's is invalid; one customer has none
    assert counts == {"rows": 5, "valid": 2, "invalid": 1, "duplicate": 2, "without_phone": 1}


def test_problems_name_the_row_and_never_repeat_the_value():
    phones = normalise_phones(pl.DataFrame({"phone": ["87012345678", "87272501234", "x"]}))
    found = phones.problems("phone")
    assert [p["field"] for p in found] == ["row 2: phone", "row 3: phone"]
    assert not any("7272501234" in p["problem"] for p in found)
    assert len(phones.problems("phone", limit=1)) == 1
    assert found[0]["fix"] == "give the customer's mobile number"
    excel = normalise_phones(pl.DataFrame({"phone": ["7.70123E+10"]})).problems("phone")
    assert "format the column as Text" in excel[0]["fix"]


def test_numbers_in_logs_are_masked_by_the_projects_masker():
    assert masked("sent to +77012345678") == "sent to +7********78"


def test_numeric_columns_from_spreadsheets():
    floats = normalise_phones(pl.DataFrame({"phone": [77012345678.0, 77012345678.5, None]}))
    assert floats.rows["phone_e164"].to_list() == ["+77012345678", None, None]
    assert floats.rows["phone_problem"].to_list() == [None, "a decimal number", "empty"]
    ints = normalise_phones(pl.DataFrame({"phone": [87012345678, 77012345679]}))
    assert ints.rows["phone_e164"].to_list() == ["+77012345678", "+77012345679"]


def test_each_distinct_value_is_parsed_once_and_kazakh_mobiles_not_at_all(monkeypatch):
    from campaign_pipelines.core.sms import phones as module

    calls: list[str] = []
    real = module.normalise_phone
    monkeypatch.setattr(module, "normalise_phone",
                        lambda raw, region: calls.append(raw) or real(raw, region))
    frame = pl.DataFrame({"phone": ["+44 7911 123456", "+44-7911-123-456", "+447911123456",
                                    "8 701 234 56 78", "+7 701 234 5678", "n/a"] * 1000})
    result = module.normalise_phones(frame)
    assert sorted(calls) == ["+447911123456", "na"]  # separators stripped in polars first
    assert result.counts == {"rows": 6000, "valid": 2, "invalid": 1000, "duplicate": 4998}


def test_the_polars_path_for_kazakh_mobiles_agrees_with_the_library():
    rng = random.Random(12)
    prefixes = ["+7", "8", "7", "", "+7 (", "8-"]
    raw = [f"{rng.choice(prefixes)}7{rng.randint(0, 99):02d}{rng.randint(0, 10**7 - 1):07d}"
           for _ in range(5000)]
    fast = normalise_phones(pl.DataFrame({"phone": raw}))
    assert fast.rows["phone_e164"].to_list() == [normalise_phone(r)[0] for r in raw]
    assert fast.rows["phone_problem"].to_list() == [
        None if e164 else problem for e164, problem in map(normalise_phone, raw)]
    assert 0 < fast.counts["valid"] < 5000


def test_an_empty_list_and_a_missing_column():
    empty = normalise_phones(pl.DataFrame({"phone": []}, schema={"phone": pl.String}))
    assert empty.counts == {"rows": 0, "valid": 0, "invalid": 0, "duplicate": 0}
    with pytest.raises(ProblemsError, match="no such column"):
        normalise_phones(pl.DataFrame({"tel": ["87012345678"]}))


def test_the_phone_column_is_found_by_its_usual_names():
    assert phone_column(["IIN", " Phone "]) == " Phone "
    assert phone_column(["iin", "Телефон"]) == "Телефон"
    assert phone_column(["msisdn", "phone"]) == "phone"
    with pytest.raises(ProblemsError, match="no phone column among"):
        phone_column(["iin", "name"])


def test_a_recipients_time_zone_when_the_number_tells_it():
    assert recipient_time_zone("+77012345678", "Asia/Almaty") == "Asia/Almaty"  # +7: many
    assert recipient_time_zone("+4915112345678", "Asia/Almaty") == "Europe/Berlin"
