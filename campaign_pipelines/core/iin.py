r"""IIN (Kazakhstan individual identification number) normalisation and check digits.

An IIN is always a 12-digit string. Lists arrive from Excel and CSV exports, so the same
number shows up as ``" 0012-3456 7890"``, ``12345678901.0`` (Excel stored it as a number and
dropped the leading zero) or with an apostrophe Excel uses to force text. Everything here is
vectorised over polars expressions so that 10M rows validate in well under a second.

Check digit (the official algorithm): weights 1..11 over the first 11 digits, sum mod 11; if
that gives 10, weights 3..11,1,2 are used instead; if that also gives 10 the number is invalid.

Decisions:
- An IIN's digits are ASCII 0-9, and every pattern here says ``[0-9]``: polars' and Python's
  ``\d`` also match full-width (``８``) and Arabic-Indic (``٨``) digits, which would deploy
  non-ASCII text as an IIN. Such values are invalid, not normalised: no export this bank uses
  writes them, so they came through some copy or transformation nobody can vouch for, and the
  list's owner should see them (``invalid_reason`` names them in the rejected sample).
- A leading minus (``-850315300100``, an Excel negative number) is not a separator: the value
  is a negative number, hence invalid. Dashes inside the digits remain separators.
"""

from __future__ import annotations

import re

import polars as pl

IIN_LENGTH = 12
# Born 2000-01..2000-09 gives YYMM "0001".."0009": at most three leading zeros can be lost.
_SHORTEST_RESTORABLE = 9

_WEIGHTS_FIRST = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_WEIGHTS_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)

# Characters people and spreadsheets put inside numbers: blanks, dashes, quotes.
_SEPARATORS = r"[\s\-\u2010-\u2015_'\"`\u00a0]"
# A minus sign before the first digit, after any blanks or the quote Excel uses to force text.
_NEGATIVE = r"^[\s'\"`\u00a0]*[\-\u2010-\u2015\u2212]"


def check_digit(first_eleven: str) -> int | None:
    """The twelfth digit for these eleven, or None when no check digit exists."""
    digits = [int(c) for c in first_eleven]
    for weights in (_WEIGHTS_FIRST, _WEIGHTS_SECOND):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if remainder != 10:
            return remainder
    return None


def has_valid_check_digit(iin: str) -> bool:
    if len(iin) != IIN_LENGTH or not (iin.isascii() and iin.isdigit()):
        return False
    return check_digit(iin[:11]) == int(iin[11])


def with_clean_iins(frame: pl.DataFrame, raw: str = "raw_iin") -> pl.DataFrame:
    """Adds ``iin`` (12-digit string, null when the cell stands for no IIN),
    ``zeros_restored`` and ``check_digit_ok`` to a frame with a raw text column.

    Blanks, separators and the ``.0`` Excel adds to numbers are stripped; the leading zeros a
    number lost (9 to 11 digits) are padded back. Rows already clean skip the regex work, which
    keeps 10M clean rows well under a second.
    """
    stripped = frame.with_columns(pl.col(raw).cast(pl.String).str.strip_chars().alias("iin"))
    is_clean = pl.col("iin").str.contains(rf"^[0-9]{{{IIN_LENGTH}}}$").fill_null(False)
    clean = stripped.filter(is_clean).with_columns(zeros_restored=pl.lit(False))
    messy = stripped.filter(~is_clean).with_columns(
        pl.when(~pl.col("iin").str.contains(_NEGATIVE)).then(
            pl.col("iin").str.replace(r"\.0+$", "").str.replace_all(_SEPARATORS, "")
        )
    )
    restorable = pl.col("iin").str.contains(rf"^[0-9]{{{_SHORTEST_RESTORABLE},{IIN_LENGTH}}}$")
    messy = messy.with_columns(
        zeros_restored=restorable.fill_null(False) & (pl.col("iin").str.len_chars() < IIN_LENGTH),
        iin=pl.when(restorable).then(pl.col("iin").str.zfill(IIN_LENGTH)),
    )
    return with_check_digit_flag(pl.concat([clean, messy], how="vertical"))


def with_check_digit_flag(frame: pl.DataFrame) -> pl.DataFrame:
    """Adds ``check_digit_ok`` for the ``iin`` column (null IIN: False)."""
    digit_names = [f"_d{i}" for i in range(IIN_LENGTH)]
    number = pl.col("iin").cast(pl.Int64, strict=False)
    digits = [
        ((number // 10 ** (IIN_LENGTH - 1 - i)) % 10).cast(pl.Int32).alias(name)
        for i, name in enumerate(digit_names)
    ]
    weighted = digit_names[:11]
    first = pl.sum_horizontal(pl.col(n) * w for n, w in zip(weighted, _WEIGHTS_FIRST, strict=True))
    second = pl.sum_horizontal(
        pl.col(n) * w for n, w in zip(weighted, _WEIGHTS_SECOND, strict=True)
    )
    flagged = (
        frame.lazy()
        .with_columns(digits)
        .with_columns(_first=first % 11, _second=second % 11)
        .with_columns(
            check_digit_ok=(
                pl.when(pl.col("_first") != 10)
                .then(pl.col("_first"))
                .when(pl.col("_second") != 10)
                .then(pl.col("_second"))
                == pl.col(digit_names[-1])
            ).fill_null(False)
        )
        .drop([*digit_names, "_first", "_second"])
    )
    return flagged.collect()


def mask_iin(value: str | None) -> str:
    """An IIN fit for logs and UI metadata: birth date and serial hidden."""
    if not value:
        return "<empty>"
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def invalid_reason(raw: str | None) -> str:
    """Why a raw value stands for no IIN, in words fit for the UI: it never repeats the value.
    Called for the few rows of a rejected sample, so plain Python is fine here."""
    text = (raw or "").strip()
    if not text:
        return "empty"
    if any(char.isdigit() and not char.isascii() for char in text):
        return "non-ASCII digits (full-width or another script): type the number again"
    if re.match(_NEGATIVE, text):
        return "negative number: a minus sign is not part of an IIN"
    if re.search(r"[0-9][eE][+-]?[0-9]", text):
        return "scientific notation: Excel rounded the number and lost digits"
    digits = re.sub(_SEPARATORS, "", re.sub(r"\.0+$", "", text))
    if not digits.isascii() or not digits.isdigit():
        return "not a number"
    return f"{len(digits)} digits, not {IIN_LENGTH}"
