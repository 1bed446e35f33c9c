from datetime import date

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from campaign_pipelines.core.iin import has_valid_check_digit, with_check_digit_flag
from campaign_pipelines.demo.synthetic_bank import (
    BLACKLIST_SOURCES,
    DEVICES,
    MAU_MONTHS,
    PRODUCTS,
    PUSH_STREAMS,
    SHOWCASE_IINS,
    generate_bank,
    unique_valid_iins,
)

CUSTOMERS = 40_000
ACRM = "ACRM_DW.RB_BLACK_LIST@ACRM"


@pytest.fixture(scope="module")
def bank() -> dict[str, pl.DataFrame]:
    return generate_bank(CUSTOMERS, seed=7)


def share(part: int | float, whole: int | float) -> float:
    return part / whole


def test_tables_have_the_contract_columns_and_types(bank):
    assert {name: dict(frame.schema) for name, frame in bank.items()} == {
        "customers": {
            "iin": pl.String,
            "birth_date": pl.Date,
            "gender": pl.String,
            "city": pl.String,
            "segment": pl.String,
        },
        "blacklist": {"source": pl.String, "iin": pl.String},
        "client_devices": {"iin": pl.String, "device": pl.String},
        "push_preferences": {"iin": pl.String, "stream": pl.String},
        "mau": {"iin": pl.String, "month": pl.Date},
        "client_products": {"iin": pl.String, "product": pl.String},
        "client_phones": {"iin": pl.String, "phone": pl.String},
    }


def test_customers_are_unique_and_generated_iins_pass_the_checksum(bank):
    customers = bank["customers"]
    assert customers.height == CUSTOMERS
    assert customers["iin"].n_unique() == CUSTOMERS
    assert customers["iin"].str.contains(r"^\d{12}$").all()
    flagged = with_check_digit_flag(customers)
    generated = flagged.filter(~pl.col("iin").is_in(list(SHOWCASE_IINS)))
    assert generated["check_digit_ok"].all()
    assert not any(has_valid_check_digit(iin) for iin in SHOWCASE_IINS)


def test_about_eight_percent_are_born_in_the_2000s_with_a_leading_zero(bank):
    customers = bank["customers"]
    leading_zero = customers.filter(pl.col("iin").str.starts_with("0"))
    assert 0.07 < share(leading_zero.height, customers.height) < 0.09
    assert leading_zero["birth_date"].dt.year().is_between(2000, 2009).all()
    assert leading_zero["iin"].str.slice(6, 1).is_in(["5", "6"]).all()


def test_birth_date_and_gender_agree_with_the_iin(bank):
    generated = bank["customers"].slice(len(SHOWCASE_IINS))
    assert (generated["iin"].str.slice(0, 6) == generated["birth_date"].dt.strftime("%y%m%d")).all()
    century_gender = generated["iin"].str.slice(6, 1).cast(pl.Int8)
    female = century_gender % 2 == 0
    assert ((generated["gender"] == "F") == female).all()
    assert 0.45 < female.mean() < 0.59


def test_blacklist_covers_three_percent_unevenly_with_overlap(bank):
    blacklist = bank["blacklist"]
    assert set(blacklist["source"].unique()) == set(BLACKLIST_SOURCES)
    assert 0.027 < share(blacklist["iin"].n_unique(), CUSTOMERS) < 0.033
    per_source = blacklist["source"].value_counts(sort=True)["count"].to_list()
    assert per_source[0] > 1.5 * per_source[-1]
    in_two = blacklist.group_by("iin").len().filter(pl.col("len") == 2)
    assert 0.05 < share(in_two.height, blacklist["iin"].n_unique()) < 0.2
    assert blacklist.is_duplicated().sum() == 0
    assert blacklist["iin"].is_in(bank["customers"]["iin"].implode()).all()


def test_devices_follow_the_platform_mix(bank):
    devices = bank["client_devices"]
    shares = dict(devices["device"].value_counts(normalize=True).iter_rows())
    assert set(shares) == set(DEVICES)
    assert shares["android"] == pytest.approx(0.60, abs=0.04)
    assert shares["iOS"] == pytest.approx(0.32, abs=0.03)
    assert shares["web"] == pytest.approx(0.08, abs=0.02)
    per_customer = devices.group_by("iin").len()
    assert 0.035 < 1 - share(per_customer.height, CUSTOMERS) < 0.045
    assert per_customer["len"].max() == 2
    assert devices.is_duplicated().sum() == 0


def test_push_preferences_are_zero_to_six_uneven_streams(bank):
    push = bank["push_preferences"]
    assert set(push["stream"].unique()) == set(PUSH_STREAMS)
    assert push.is_duplicated().sum() == 0
    counts = push["stream"].value_counts()["count"]
    assert counts.max() > 2.5 * counts.min()
    per_customer = push.group_by("iin").len()["len"]
    assert per_customer.max() == 6
    assert per_customer.len() < CUSTOMERS  # someone opted in to nothing


def test_mau_has_three_first_of_month_months_with_seventy_percent_latest(bank):
    mau = bank["mau"]
    assert sorted(mau["month"].unique()) == list(MAU_MONTHS)
    assert (mau["month"].dt.day() == 1).all()
    assert mau.is_duplicated().sum() == 0
    latest = mau.filter(pl.col("month") == max(MAU_MONTHS))
    assert 0.68 < share(latest.height, CUSTOMERS) < 0.72


def test_products_average_two_per_customer_without_duplicates(bank):
    products = bank["client_products"]
    assert set(products["product"].unique()) == set(PRODUCTS)
    assert 1.9 < share(products.height, CUSTOMERS) < 2.1
    assert products.select("iin", "product").is_duplicated().sum() == 0


def test_showcase_customers_match_the_legacy_example(bank):
    def of(table: str, column: str, iin: str) -> set:
        frame = bank[table]
        return set(frame.filter(pl.col("iin") == iin)[column].to_list())

    latest = max(MAU_MONTHS)
    for iin in SHOWCASE_IINS:
        assert of("customers", "iin", iin) == {iin}
        assert of("client_devices", "device", iin) & {"android", "iOS"}
        assert latest in of("mau", "month", iin)
        assert "Кредитная карта" in of("client_products", "product", iin)
        assert "Маркет" in of("push_preferences", "stream", iin)
    assert of("blacklist", "source", "123456789012") == {ACRM}
    assert of("blacklist", "source", "987654321098") == set()
    assert of("blacklist", "source", "456789123456") == set()


def test_legacy_example_request_keeps_two_of_three(bank):
    """The documented outcome: 3 in, 1 removed by the ACRM blacklist, 2 deployed."""
    request = pl.DataFrame({"iin": list(SHOWCASE_IINS)})
    blacklisted = bank["blacklist"].filter(pl.col("source") == ACRM)["iin"]
    mobile = bank["client_devices"].filter(pl.col("device").is_in(["android", "iOS"]))["iin"]
    active = bank["mau"].filter(pl.col("month") == max(MAU_MONTHS))["iin"]
    card = bank["client_products"].filter(pl.col("product") == "Кредитная карта")["iin"]
    kept = request.filter(
        ~pl.col("iin").is_in(blacklisted.implode()),
        pl.col("iin").is_in(mobile.implode()),
        pl.col("iin").is_in(active.implode()),
        pl.col("iin").is_in(card.implode()),
    )
    assert kept["iin"].to_list() == ["987654321098", "456789123456"]


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    first, again, other = (
        generate_bank(3_000, 11),
        generate_bank(3_000, 11),
        generate_bank(3_000, 12),
    )
    for name in first:
        assert_frame_equal(first[name], again[name])
    assert not first["customers"].equals(other["customers"])
    assert first["customers"].head(3).equals(other["customers"].head(3))  # the showcase


def test_unique_valid_iins_returns_exactly_the_count_asked():
    iins = unique_valid_iins(np.random.default_rng(3), 25_000)
    assert len(iins) == 25_000
    assert len(np.unique(iins)) == 25_000
    as_text = pl.DataFrame({"iin": pl.Series(iins).cast(pl.String).str.zfill(12)})
    assert with_check_digit_flag(as_text)["check_digit_ok"].all()


def test_mau_anchor_does_not_depend_on_today():
    assert MAU_MONTHS == (date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1))


def test_a_bank_smaller_than_the_showcase_is_refused():
    with pytest.raises(ValueError, match="at least 3"):
        generate_bank(2)
