"""A deterministic synthetic bank: the reference tables the audience filters read.

Why synthetic: the filters (blacklists from three sources, devices, push opt-ins, MAU,
products) need realistic size and skew to be demonstrated and benchmarked, and no real customer
data may leave the bank. Every draw comes from numpy generators spawned from one seed, so the
same ``(customers, seed)`` always gives identical frames and tests can rely on exact rows.

Pure: no file I/O and no clock. ``build.py`` writes these frames to DuckDB and
``landing_samples.py`` samples them into upload files.
"""

from __future__ import annotations

from datetime import date
from functools import cache

import numpy as np
import polars as pl

SHOWCASE_IINS = ("123456789012", "987654321098", "456789123456")
"""The legacy documentation's example request targets these; not checksum-valid on purpose."""

BLACKLIST_SOURCES = (
    "ACRM_DW.RB_BLACK_LIST@ACRM",
    "dssb_de.dim_clients_black_list",
    "BL_No_worker",
)
DEVICES = ("android", "iOS", "web")
PUSH_STREAMS = ("Переводы", "Платежи", "Маркет", "Кредиты", "Депозиты", "Бонусы")
PRODUCTS = (
    "Кредитная карта",
    "Депозит",
    "Дебетовая карта",
    "Потребительский кредит",
    "Ипотека",
    "Автокредит",
)
# A fixed anchor instead of today's date: the demo must come out identical on any day.
# The demo's notional "today" is in 2026-11, so MAU covers the three months before it.
MAU_MONTHS = (date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1))

SHARE_BORN_2000S = 0.08  # their IINs start with 0, the zeros Excel drops
BLACKLISTED_SHARE = 0.03
BLACKLIST_SOURCE_WEIGHTS = (0.55, 0.30, 0.15)
BLACKLIST_SECOND_SOURCE_SHARE = 0.12
NO_DEVICE_SHARE = 0.04
DEVICE_WEIGHTS = (0.60, 0.32, 0.08)
SECOND_DEVICE_SHARE = 0.10
PUSH_DISABLED_SHARE = 0.12
PUSH_STREAM_SHARES = (0.62, 0.55, 0.38, 0.21, 0.17, 0.46)
MAU_LATEST_SHARE = 0.70
MAU_STILL_ACTIVE_BEFORE = 0.90  # active last month, given active this month
MAU_ACTIVE_BEFORE_ANYWAY = 0.15  # active last month, given inactive this month
PRODUCT_SHARES = (0.45, 0.30, 0.90, 0.24, 0.05, 0.06)  # about two products per customer
# Kazakhstan's mobile ranges (+7 7xx); a few numbers are written as people and old systems do.
MOBILE_PREFIXES = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777",
                   "778")
NO_PHONE_SHARE = 0.05
PHONE_SPELLINGS = {"+7{p}{n}": 0.85, "8{p}{n}": 0.08, "8 ({p}) {n3}-{n2}-{n2b}": 0.04,
                   "+7 {p} {n3} {n4}": 0.03}

CITIES = {
    "Алматы": 22, "Астана": 15, "Шымкент": 10, "Караганда": 7, "Актобе": 5, "Тараз": 4,
    "Павлодар": 4, "Усть-Каменогорск": 4, "Семей": 3, "Атырау": 3, "Костанай": 3,
    "Кызылорда": 3, "Уральск": 3, "Актау": 3, "Туркестан": 3, "Петропавловск": 2,
    "Талдыкорган": 2, "Кокшетау": 2, "Экибастуз": 2,
}  # fmt: skip
SEGMENTS = {"mass": 78, "mass_affluent": 16, "premium": 5, "private": 1}

_SHOWCASE_CUSTOMERS = {
    "birth_date": [date(1985, 4, 12), date(1978, 11, 3), date(1992, 7, 21)],
    "gender": ["M", "F", "M"],
    "city": ["Алматы", "Астана", "Шымкент"],
    "segment": ["mass_affluent", "mass", "premium"],
}
_SHOWCASE_DEVICES = np.array([0, 1, 0])  # android, iOS, android
_WEIGHTS_FIRST = np.arange(1, 12)
_WEIGHTS_SECOND = np.array([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2])
_EPOCH = np.datetime64("1970-01-01", "D")


def generate_bank(customers: int, seed: int = 7) -> dict[str, pl.DataFrame]:
    """All seven ``sources`` tables for a bank of ``customers`` people (showcase ones included).

    Rows are drawn per customer index; the three showcase customers sit at indexes 0..2 and
    their draws are then overridden so the legacy example request filters as documented.
    """
    if customers < len(SHOWCASE_IINS):
        raise ValueError(f"customers must be at least {len(SHOWCASE_IINS)}, got {customers}")
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    generated = unique_valid_iins(rngs[0], customers - len(SHOWCASE_IINS))
    people = _customers(generated, rngs[1])
    iins = people["iin"]
    return {
        "customers": people,
        "blacklist": _blacklist(iins, rngs[2]),
        "client_devices": _client_devices(iins, rngs[3]),
        "push_preferences": _push_preferences(iins, rngs[4]),
        "mau": _mau(iins, rngs[5]),
        "client_products": _client_products(iins, rngs[6]),
        "client_phones": _client_phones(iins, rngs[7]),
    }


def unique_valid_iins(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct checksum-valid IINs as int64 (12-digit strings after zero padding).

    Birth date, gender and serial are random, so a few collide and about 1 in 120 has no
    check digit: those are dropped and the shortfall is drawn again until there are enough.
    """
    found = np.empty(0, dtype=np.int64)
    while len(found) < count:
        shortfall = count - len(found)
        drawn = _draw_iins(rng, shortfall + shortfall // 30 + 16)
        merged = pl.Series(np.concatenate([found, drawn[drawn >= 0]]))
        found = merged.unique(maintain_order=True).to_numpy()
    return found[:count]


def _draw_iins(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random IINs (YYMMDD, century/gender digit, serial, check digit) as int64, or -1 where
    the first eleven digits admit no check digit.

    The weighted digit sums come from lookup tables per birth day and per serial, which
    keeps 10M draws near a second instead of splitting every number into digits.
    """
    tables = _digit_tables()
    born_2000s = rng.random(size) < SHARE_BORN_2000S
    days_2000s = rng.integers(_days("2000-01-01"), _days("2010-01-01"), size)
    days_1900s = rng.triangular(_days("1940-01-01"), _days("1986-01-01"), _days("2000-01-01"), size)
    day = np.where(born_2000s, days_2000s, days_1900s.astype(np.int64)) - _days("1940-01-01")
    century_gender = np.where(born_2000s, 5, 3) + (rng.random(size) < 0.52)  # +1: female
    serial = rng.integers(0, 10_000, size)
    first = (
        tables["day_first"][day]
        + century_gender * _WEIGHTS_FIRST[6]
        + tables["serial_first"][serial]
    )
    second = (
        tables["day_second"][day]
        + century_gender * _WEIGHTS_SECOND[6]
        + tables["serial_second"][serial]
    )
    first %= 11
    second %= 11
    digit = np.where(first != 10, first, np.where(second != 10, second, -1))
    first_eleven = tables["yymmdd"][day] * 100_000 + century_gender * 10_000 + serial
    return np.where(digit >= 0, first_eleven * 10 + digit, -1)


@cache
def _digit_tables() -> dict[str, np.ndarray]:
    """YYMMDD and its weighted digit sums for every day 1940..2009, and the sums for every
    serial (digits 8..11), under both weight sets of the check-digit rule."""
    born = np.arange(
        np.datetime64("1940-01-01"), np.datetime64("2010-01-01"), dtype="datetime64[D]"
    )
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = born.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (born - month_start).astype(np.int64) + 1
    yymmdd = (year % 100) * 10_000 + month * 100 + day
    serial = np.arange(10_000)
    return {
        "yymmdd": yymmdd,
        "day_first": _weighted_digit_sum(yymmdd, _WEIGHTS_FIRST[:6]),
        "day_second": _weighted_digit_sum(yymmdd, _WEIGHTS_SECOND[:6]),
        "serial_first": _weighted_digit_sum(serial, _WEIGHTS_FIRST[7:]),
        "serial_second": _weighted_digit_sum(serial, _WEIGHTS_SECOND[7:]),
    }


def _weighted_digit_sum(numbers: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum of digit * weight, digits taken left to right with ``len(weights)`` digits."""
    total = np.zeros(len(numbers), dtype=np.int64)
    for position, weight in enumerate(weights):
        total += (numbers // 10 ** (len(weights) - 1 - position)) % 10 * weight
    return total


def _days(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


def _customers(generated: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Showcase customers first, then the generated ones; birth date and gender read back
    from the IIN so the two can never disagree."""
    yymmdd = pl.col("_n") // 1_000_000
    century_gender = (pl.col("_n") // 100_000) % 10
    year = yymmdd // 10_000 + pl.when(century_gender >= 5).then(2000).otherwise(1900)
    frame = pl.DataFrame({"_n": generated}).select(
        iin=pl.col("_n").cast(pl.String).str.zfill(12),
        birth_date=pl.date(year, (yymmdd // 100) % 100, yymmdd % 100),
        gender=pl.when(century_gender % 2 == 0).then(pl.lit("F")).otherwise(pl.lit("M")),
    )
    frame = frame.with_columns(
        city=_labels(CITIES, _choose(rng, len(frame), list(CITIES.values()))),
        segment=_labels(SEGMENTS, _choose(rng, len(frame), list(SEGMENTS.values()))),
    )
    showcase = pl.DataFrame({"iin": list(SHOWCASE_IINS), **_SHOWCASE_CUSTOMERS})
    return pl.concat([showcase, frame], how="vertical")


def _blacklist(iins: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """~3% of customers, most in one source, some in two (the overlap the filter must dedupe)."""
    n = len(iins)
    listed = np.flatnonzero(rng.random(n) < BLACKLISTED_SHARE)
    listed = listed[listed >= len(SHOWCASE_IINS)]
    primary = _choose(rng, len(listed), BLACKLIST_SOURCE_WEIGHTS)
    twice = rng.random(len(listed)) < BLACKLIST_SECOND_SOURCE_SHARE
    secondary = (primary[twice] + rng.integers(1, 3, int(twice.sum()))) % 3
    idx = np.concatenate([[0], listed, listed[twice]])  # showcase 0 is in ACRM only
    codes = np.concatenate([[0], primary, secondary])
    return pl.DataFrame({"source": _labels(BLACKLIST_SOURCES, codes), "iin": iins.gather(idx)})


def _client_devices(iins: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """One device for most, two for some (app plus another), none for ~4%."""
    n = len(iins)
    has_device = rng.random(n) >= NO_DEVICE_SHARE
    primary = _choose(rng, n, DEVICE_WEIGHTS)
    second = has_device & (rng.random(n) < SECOND_DEVICE_SHARE)
    has_device[: len(SHOWCASE_IINS)] = True
    second[: len(SHOWCASE_IINS)] = False
    primary[: len(SHOWCASE_IINS)] = _SHOWCASE_DEVICES
    owners = np.flatnonzero(has_device)
    twice = np.flatnonzero(second)
    # The second device is one of the other two, in proportion to their popularity.
    weights = np.asarray(DEVICE_WEIGHTS)
    first_of_twice = primary[twice]
    other_a, other_b = (first_of_twice + 1) % 3, (first_of_twice + 2) % 3
    share_a = weights[other_a] / (weights[other_a] + weights[other_b])
    secondary = np.where(rng.random(len(twice)) < share_a, other_a, other_b)
    idx = np.concatenate([owners, twice])
    codes = np.concatenate([primary[owners], secondary])
    return pl.DataFrame({"iin": iins.gather(idx), "device": _labels(DEVICES, codes)})


def _push_preferences(iins: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """Independent opt-ins per stream, and a share who switched push off altogether."""
    n = len(iins)
    enabled = rng.random(n) >= PUSH_DISABLED_SHARE
    enabled[: len(SHOWCASE_IINS)] = True
    masks = [enabled & (rng.random(n) < share) for share in PUSH_STREAM_SHARES]
    masks[PUSH_STREAMS.index("Маркет")][: len(SHOWCASE_IINS)] = True
    return _membership(iins, masks, PUSH_STREAMS, "stream")


def _mau(iins: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """Activity drawn backwards from the latest month so active users tend to stay active."""
    n = len(iins)
    active = rng.random(n) < MAU_LATEST_SHARE
    active[: len(SHOWCASE_IINS)] = True
    by_month = [active]
    for _ in MAU_MONTHS[1:]:
        draw = rng.random(n)
        active = np.where(active, draw < MAU_STILL_ACTIVE_BEFORE, draw < MAU_ACTIVE_BEFORE_ANYWAY)
        by_month.append(active)
    frames = [
        pl.DataFrame({"iin": iins.filter(pl.Series(mask))}).with_columns(month=pl.lit(month))
        for month, mask in zip(reversed(MAU_MONTHS), by_month, strict=True)
    ]
    return pl.concat(reversed(frames), how="vertical")


def _client_products(iins: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """One draw per (customer, product): duplicates are impossible by construction."""
    n = len(iins)
    masks = [rng.random(n) < share for share in PRODUCT_SHARES]
    masks[PRODUCTS.index("Кредитная карта")][: len(SHOWCASE_IINS)] = True
    return _membership(iins, masks, PRODUCTS, "product")


def _client_phones(iins: pl.Series, rng: np.random.Generator) -> pl.DataFrame:
    """A mobile number for most customers (``iin``, ``phone``), the SMS campaigns' recipients;
    most in E.164, some spelled as typed into a branch system (``8 (701) 234-56-78``)."""
    n = len(iins)
    reachable = rng.random(n) >= NO_PHONE_SHARE
    reachable[: len(SHOWCASE_IINS)] = True
    has = np.flatnonzero(reachable)
    prefix = _labels(MOBILE_PREFIXES, rng.integers(0, len(MOBILE_PREFIXES), len(has)))
    number = pl.Series(rng.integers(0, 10_000_000, len(has))).cast(pl.String).str.zfill(7)
    spelling = _choose(rng, len(has), list(PHONE_SPELLINGS.values()))
    frame = pl.DataFrame({"iin": iins.gather(has), "p": prefix, "n": number, "s": spelling})
    n3, n2, n2b, n4 = (pl.col("n").str.slice(a, b) for a, b in ((0, 3), (3, 2), (5, 2), (3, 4)))
    plain = pl.col("p") + pl.col("n")
    phone = (pl.when(pl.col("s") == 0).then("+7" + plain)
             .when(pl.col("s") == 1).then("8" + plain)
             .when(pl.col("s") == 2).then(pl.concat_str(
                 pl.lit("8 ("), pl.col("p"), pl.lit(") "), n3, pl.lit("-"), n2, pl.lit("-"), n2b))
             .otherwise(pl.concat_str(pl.lit("+7 "), pl.col("p"), pl.lit(" "), n3,
                                      pl.lit(" "), n4)))
    return frame.select("iin", phone=phone)


def _membership(
    iins: pl.Series, masks: list[np.ndarray], labels: tuple[str, ...], name: str
) -> pl.DataFrame:
    """Long (iin, label) rows from one boolean mask per label."""
    idx = [np.flatnonzero(mask) for mask in masks]
    codes = np.concatenate([np.full(len(i), code, dtype=np.uint8) for code, i in enumerate(idx)])
    return pl.DataFrame({"iin": iins.gather(np.concatenate(idx)), name: _labels(labels, codes)})


def _choose(rng: np.random.Generator, size: int, weights) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.uint8)


def _labels(labels, codes: np.ndarray) -> pl.Series:
    """Strings by small-integer code, without building Python strings per row."""
    return pl.Series(list(labels), dtype=pl.String).gather(np.asarray(codes, dtype=np.int64))
