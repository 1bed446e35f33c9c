import polars as pl
import pytest

from campaign_pipelines.core.iin import (
    check_digit,
    has_valid_check_digit,
    invalid_reason,
    mask_iin,
    with_check_digit_flag,
    with_clean_iins,
)
from campaign_pipelines_tests.bank import valid_iin


def test_check_digit_uses_second_weights_when_first_gives_ten():
    # First weights give 10 for these eleven digits, so the second set decides.
    eleven = next(
        f"{n:011d}"
        for n in range(10**10, 10**10 + 5000)
        if sum(int(d) * w for d, w in zip(f"{n:011d}", range(1, 12), strict=True)) % 11 == 10
    )
    second = (
        sum(int(d) * w for d, w in zip(eleven, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), strict=True))
        % 11
    )
    assert check_digit(eleven) == (None if second == 10 else second)


def test_valid_and_invalid_check_digits():
    good = valid_iin(42)
    bad = good[:11] + str((int(good[11]) + 1) % 10)
    assert has_valid_check_digit(good) and not has_valid_check_digit(bad)
    assert not has_valid_check_digit("12345")
    full_width = good.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    assert not has_valid_check_digit(full_width)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        ("  ", "empty"),
        ("８５０３１５３００１００", "non-ASCII digits"),
        ("-850315300100", "negative number"),
        ("1.23457E+11", "scientific notation"),
        ("n/a", "not a number"),
        ("12345", "5 digits"),
        ("1234567890123", "13 digits"),
    ],
)
def test_invalid_reason_says_why_without_the_value(raw, reason):
    assert invalid_reason(raw).startswith(reason)
    if raw and raw.strip():
        assert raw.strip() not in invalid_reason(raw)


@pytest.mark.parametrize(
    ("raw", "iin", "restored"),
    [
        ("850315300100", "850315300100", False),
        (" 8503-1530 0100 ", "850315300100", False),
        ("'850315300100", "850315300100", False),
        ("10203501234", "010203501234", True),  # Excel dropped one zero
        ("10203501234.0", "010203501234", True),
        ("203501234", "000203501234", True),  # born 2000-02: three zeros lost
        ("1.23457E+11", None, False),  # Excel's scientific notation lost the digits
        ("12345", None, False),
        ("n/a", None, False),
        ("", None, False),
        (None, None, False),
        ("1234567890123", None, False),
        ("８５０３１５３００１００", None, False),  # full-width digits
        ("٨٥٠٣١٥٣٠٠١٠٠", None, False),  # Arabic-Indic digits
        ("85031530010٠", None, False),  # one non-ASCII digit among ASCII ones
        ("１０２０３５０１２３４", None, False),  # full-width, would be zero-restored
        ("-850315300100", None, False),  # Excel shows a negative number
        ("-10203501234", None, False),
        (" −850315300100", None, False),  # the Unicode minus sign
        ("'-850315300100", None, False),
    ],
)
def test_clean_iins(raw, iin, restored):
    out = with_clean_iins(pl.DataFrame({"raw_iin": [raw]}, schema={"raw_iin": pl.String}))
    assert out["iin"][0] == iin
    assert out["zeros_restored"][0] is restored


def test_vectorised_check_digit_matches_scalar():
    candidates = [f"{n:012d}" for n in range(850315300000, 850315302000)]
    flagged = with_check_digit_flag(pl.DataFrame({"iin": candidates}))
    assert flagged["check_digit_ok"].to_list() == [has_valid_check_digit(c) for c in candidates]
    assert 0 < flagged["check_digit_ok"].sum() < len(candidates)


def test_mask_hides_birth_date_and_serial():
    assert mask_iin("850315300100") == "85********00"
    assert mask_iin(None) == "<empty>" and mask_iin("123") == "***"
