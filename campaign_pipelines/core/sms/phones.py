"""Phone numbers of a prospect list → E.164, with phonenumbers (Google's libphonenumber).

Lists come from Excel and CSV exports, so one number arrives as ``8 (701) 234-56-78``,
``+7 701 234 5678``, ``77012345678.0`` or ``'87012345678``. Decisions:
- Default region KZ: a number without ``+`` is read as Kazakhstan's (trunk prefix 8 or the
  country code 7 or neither). Other countries are accepted when written with ``+``.
- Only numbers that can take an SMS are valid: phonenumbers' MOBILE or FIXED_LINE_OR_MOBILE
  (the US and others do not tell them apart). A fixed-line, toll-free or premium number is
  invalid ("cannot receive SMS"), and so is a number with an extension.
- Scientific notation (``7.70123E+10``) is refused, never expanded: Excel kept only six digits,
  and expanding would text a stranger. Full-width and other Unicode digits are read as digits
  (phonenumbers does). A whole float (``77012345678.0``, or a Float64 column
  from a spreadsheet) is its digits; a float with a fraction is invalid. Readers should read
  phone columns as text, so that the first case can be told from the second.
- Valid, invalid and duplicate partition the rows: the first row of each E.164 number is
  ``valid``, a later row with the same number is ``duplicate``, a row without one is
  ``invalid`` with a reason in words (``phone_problem``). A reason never repeats the value;
  logs mask numbers with core/masking.py's ``masked``.
- Vectorised where the library allows: separators are stripped in polars; a Kazakh mobile
  written the usual ways (``+7``, ``7``, ``8`` or nothing before its 10 digits) is recognised
  in polars by the library's own KZ mobile pattern (PhoneMetadata; a test checks both ways
  agree); every other distinct value is parsed once in Python (~30 µs) and joined back.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
import polars as pl
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType, ValidationResult
from phonenumbers import timezone as number_zones

from campaign_pipelines.core.problems import ProblemsError

DEFAULT_REGION = "KZ"
PHONE_COLUMNS = ("phone", "phone_number", "mobile", "msisdn", "телефон")
FIRST_NAME_COLUMNS = ("first_name", "firstname", "name", "имя", "аты")
SMS_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
OUTCOMES = ("valid", "invalid", "duplicate")
_SCIENTIFIC = r"^[+-]?[0-9]+(\.[0-9]*)?[eE][+-]?[0-9]+$"
_SEPARATORS = r"[\s\-\u2010-\u2015().\u00a0/]"
_QUOTES = "'\"`"


def _kz_mobile() -> str:
    metadata = PhoneMetadata.metadata_for_region("KZ")
    mobile = metadata.mobile if metadata else None
    if (metadata is None or mobile is None or not mobile.national_number_pattern
            or metadata.national_prefix_transform_rule is not None):
        raise RuntimeError("phonenumbers' KZ metadata changed: review phones.KZ_MOBILE")
    national = mobile.national_number_pattern.replace(r"\d", "[0-9]")
    return rf"^(?:\+7|7|8)?({national})$"


KZ_MOBILE = _kz_mobile()
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "the wrong length for its country",
}


def phone_column(columns: list[str]) -> str:
    """The list's phone column: the first of PHONE_COLUMNS present, in any case; else
    ProblemsError naming the columns the list has."""
    by_lower = {name.strip().casefold(): name for name in columns}
    for wanted in PHONE_COLUMNS:
        if wanted in by_lower:
            return by_lower[wanted]
    raise ProblemsError([{
        "field": "<columns>", "problem": f"no phone column among {columns[:20]}",
        "fix": "name the column with the numbers one of: " + ", ".join(PHONE_COLUMNS)}])


def first_name_column(columns: list[str]) -> str | None:
    """The list's first-name column: the first of FIRST_NAME_COLUMNS present, in any case;
    None when there is none (it is optional)."""
    by_lower = {name.strip().casefold(): name for name in columns}
    return next((by_lower[n] for n in FIRST_NAME_COLUMNS if n in by_lower), None)


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> tuple[str | None, str | None]:
    """``(e164, None)`` for a number that can take an SMS, else ``(None, reason)``."""
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as error:
        return None, _PARSE_REASONS.get(error.error_type, "not a phone number")
    if number.extension:
        return None, "has an extension, which an SMS cannot reach"
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        why = phonenumbers.is_possible_number_with_reason(number)
        return None, _LENGTH_REASONS.get(why, "not a number in use in its country")
    if kind not in SMS_TYPES:
        name = PhoneNumberType.to_string(kind).lower().replace("_", "-")
        return None, f"a {name} number, which cannot receive SMS"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def recipient_time_zone(e164: str, default: str) -> str:
    """The recipient's zone when their number's country has one zone (``+49`` → Berlin),
    else ``default`` (Kazakhstan's and Russia's ``+7`` share many)."""
    zones = number_zones.time_zones_for_number(phonenumbers.parse(e164))
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else default


def _as_text(column: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """The column as text and a problem found before parsing (or null)."""
    value = pl.col(column)
    if dtype.is_float():
        whole = value.is_finite() & (value == value.round(0))
        return (pl.when(whole).then(value.cast(pl.Int64, strict=False).cast(pl.String)),
                pl.when(value.is_not_null() & ~whole).then(pl.lit("a decimal number")))
    text = value.cast(pl.String, strict=False).str.strip_chars().str.strip_chars(_QUOTES)
    text = text.str.replace(r"^(\+?[0-9]+)\.0+$", "$1")
    scientific = text.str.contains(_SCIENTIFIC)
    problem = pl.when(scientific).then(
        pl.lit("written in scientific notation by a spreadsheet: digits were lost"))
    return pl.when(~scientific).then(text), problem


def fix_for(reason: str) -> str:
    """What the list's owner does about a row refused for ``reason``."""
    if reason.startswith("written in scientific"):
        return "format the column as Text in the spreadsheet, retype the number, export again"
    if reason == "empty":
        return "fill in the number or remove the row"
    if reason.endswith("cannot receive SMS"):
        return "give the customer's mobile number"
    if reason.startswith("has an extension"):
        return "remove the extension"
    return "write the number as +77012345678 or 87012345678, as text"


@dataclass(frozen=True)
class Phones:
    rows: pl.DataFrame  # the input, plus phone_e164, phone_outcome, phone_problem
    counts: dict[str, int]  # rows, valid, invalid, duplicate

    def recipients(self) -> pl.DataFrame:
        """One row per distinct valid number, in list order."""
        return self.rows.filter(pl.col("phone_outcome") == "valid")

    def problems(self, column: str, limit: int = 20) -> list[dict[str, str]]:
        """The first ``limit`` invalid rows as field/problem/fix (row 1 is the first data row);
        no value is repeated."""
        bad = self.rows.with_row_index("_row", 1).filter(pl.col("phone_outcome") == "invalid")
        return [{"field": f"row {row}: {column}", "problem": problem, "fix": fix_for(problem)}
                for row, problem in bad.select("_row", "phone_problem").head(limit).iter_rows()]


def normalise_phones(frame: pl.DataFrame, column: str = "phone", *,
                     region: str = DEFAULT_REGION) -> Phones:
    """``frame`` with each row's number in E.164, its outcome and reason (module docstring)."""
    if column not in frame.columns:
        raise ProblemsError([{"field": column, "problem": "the list has no such column",
                              "fix": f"use one of its columns: {frame.columns[:20]}"}])
    text, early_problem = _as_text(column, frame.schema[column])
    key = text.str.replace_all(_SEPARATORS, "").replace("", None)
    fast = key.str.extract(KZ_MOBILE, 1) if region == "KZ" else pl.lit(None, pl.String)
    keyed = frame.with_columns(_key=key, _early=early_problem, _fast=pl.lit("+7") + fast)
    keys = keyed.filter(pl.col("_fast").is_null()).get_column("_key").drop_nulls().unique()
    parsed = [normalise_phone(key, region) for key in keys.to_list()]
    lookup = pl.DataFrame({"_key": keys, "phone_e164": [e for e, _ in parsed],
                           "_problem": [p for _, p in parsed]},
                          schema={"_key": pl.String, "phone_e164": pl.String,
                                  "_problem": pl.String})
    joined = keyed.join(lookup, on="_key", how="left", maintain_order="left").with_columns(
        phone_e164=pl.coalesce("_fast", "phone_e164"))
    first = pl.col("phone_e164").is_first_distinct()
    rows = joined.with_columns(
        phone_outcome=pl.when(pl.col("phone_e164").is_null()).then(pl.lit("invalid"))
        .when(first).then(pl.lit("valid")).otherwise(pl.lit("duplicate")),
        phone_problem=pl.when(pl.col("phone_e164").is_null()).then(
            pl.coalesce("_early", "_problem", pl.lit("empty"))),
    ).drop("_key", "_early", "_fast", "_problem")
    tally = dict(rows.get_column("phone_outcome").value_counts().iter_rows())
    counts = {"rows": rows.height, **{outcome: tally.get(outcome, 0) for outcome in OUTCOMES}}
    return Phones(rows=rows, counts=counts)


def one_number_per_customer(phones: Phones, customers: int, customers_with_a_number: int
                            ) -> tuple[pl.DataFrame, dict[str, int]]:
    """A campaign's customers (``target_iin``) by their normalised numbers: one message per
    customer, to the first valid number the phones source gave; another valid number of the
    same customer counts as a duplicate. The counts add ``valid``, ``duplicate`` and
    ``without_phone`` (customers the source has no number for) to the normalisation's."""
    valid = phones.recipients().unique("target_iin", keep="first", maintain_order=True)
    counts = {**phones.counts, "valid": valid.height,
              "duplicate": phones.counts["rows"] - phones.counts["invalid"] - valid.height,
              "without_phone": customers - customers_with_a_number}
    return valid, counts
