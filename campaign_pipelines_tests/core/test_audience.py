"""Validation and each filter alone and together, on the known bank, without Dagster."""

import polars as pl
import pytest

from campaign_pipelines.core import audience as core
from campaign_pipelines.core import audience_checks as rules
from campaign_pipelines.core.profile import (
    VOCABULARY_SCHEMA,
    Vocabulary,
    build_profile,
    vocabulary_frame,
)
from campaign_pipelines.core.reference import keyed_reference
from campaign_pipelines.core.requests import FilterConfig
from campaign_pipelines_tests.bank import ACRM, CUSTOMERS, DSSB, NO_WORKER

ALL_BLACKLISTS = [ACRM, DSSB, NO_WORKER]


def _datasets() -> dict[str, pl.LazyFrame]:
    people = CUSTOMERS.values()

    def keyed(dataset, column, pairs, dtype=pl.String):
        frame = pl.DataFrame(pairs, schema={"iin": pl.String, column: dtype}, orient="row")
        return keyed_reference(frame, dataset)[0].lazy()

    return {
        "blacklist": keyed(
            "blacklist", "source", [(c.iin, s) for c in people for s in c.blacklists]
        ),
        "devices": keyed("devices", "device", [(c.iin, d) for c in people for d in c.devices]),
        "push_preferences": keyed(
            "push_preferences", "stream", [(c.iin, s) for c in people for s in c.streams]
        ),
        "mau": keyed("mau", "month", [(c.iin, m) for c in people for m in c.months], pl.Date),
        "products": keyed("products", "product", [(c.iin, p) for c in people for p in c.products]),
    }


def _profile() -> tuple[pl.LazyFrame, Vocabulary]:
    datasets = _datasets()
    vocabulary = vocabulary_frame(datasets)
    return build_profile(datasets, vocabulary).lazy(), Vocabulary(vocabulary)


def _valid(*names: str) -> pl.DataFrame:
    names = names or tuple(CUSTOMERS)
    rows = core.rows_from_request_iins([CUSTOMERS[n].iin for n in names])
    classified = core.classify_rows(rows, strict_checksum=False)
    return classified.filter(pl.col("status") == core.OK)


def _survivors(filters: FilterConfig, blacklists=()) -> set[str]:
    profile, vocabulary = _profile()
    audience, _ = core.filter_audience(_valid(), filters, profile, vocabulary, list(blacklists))
    by_iin = {c.iin: n for n, c in CUSTOMERS.items()}
    return {by_iin[i] for i in audience["iin"]}


EVERYONE = set(CUSTOMERS)


@pytest.mark.parametrize(
    ("filters", "blacklists", "removed"),
    [
        (FilterConfig(), [ACRM], {"acrm_listed", "dssb_and_acrm", "seed_1"}),
        (FilterConfig(), [NO_WORKER], {"worker"}),
        (FilterConfig(), [], set()),
        (FilterConfig(devices=["ANDROID"]), [], {"ios_deposit", "web_only", "no_device", "seed_2"}),
        (FilterConfig(push_streams=["Маркет"]), [], {"payments_only"}),
        (FilterConfig(mau_only=True), [], {"inactive"}),
        (FilterConfig(products=["Депозит"]), [], EVERYONE - {"ios_deposit"}),
        (FilterConfig(exclude_products=["Депозит"]), [], {"ios_deposit"}),
    ],
)
def test_each_filter_alone(filters, blacklists, removed):
    assert _survivors(filters, blacklists) == EVERYONE - removed


def test_all_filters_together_and_the_funnel():
    filters = FilterConfig(
        devices=["android", "iOS"],
        push_streams=["Маркет"],
        mau_only=True,
        products=["Кредитная карта"],
    )
    valid = _valid()
    profile, vocabulary = _profile()
    audience, stats = core.filter_audience(valid, filters, profile, vocabulary, ALL_BLACKLISTS)
    assert stats == {
        "after_blacklist": 9,
        "blacklist_removed": 4,
        "after_device": 7,
        "after_push": 6,
        "after_mau": 5,
        "after_product": 4,
    }
    assert rules.blacklisted_iins(audience, _datasets()["blacklist"], ALL_BLACKLISTS) == 0


def test_classify_counts_invalid_duplicates_and_strict_check_digits():
    plain, seed = CUSTOMERS["plain"].iin, CUSTOMERS["seed_2"].iin
    rows = core.rows_from_request_iins([plain, f" {plain} ", "junk", seed, None])
    lenient = core.classify_rows(rows, strict_checksum=False)
    assert lenient["status"].to_list() == ["ok", "duplicate", "invalid_iin", "ok", "invalid_iin"]
    strict = core.classify_rows(rows, strict_checksum=True)
    assert strict["status"].to_list()[3] == "bad_check_digit"
    counts = core.validation_counts(strict)
    assert counts == {
        "initial_count": 5,
        "invalid_iin_removed": 3,
        "bad_check_digit": 1,
        "bad_check_digit_kept": 0,
        "leading_zeros_restored": 0,
        "duplicates_removed": 1,
        "after_validation": 1,
    }


def test_unknown_filter_names_list_the_known_ones():
    vocabulary = Vocabulary(
        pl.DataFrame(
            {
                "dataset": ["devices", "devices", "push_preferences", "products"],
                "value": ["android", "iOS", "Маркет", "Депозит"],
                "bit": [0, 1, 0, 0],
            },
            schema=VOCABULARY_SCHEMA,
        )
    )
    filters = FilterConfig(devices=["ios", "nokia"], exclude_products=["Ипотека"])
    problems = core.unknown_filter_names(filters, vocabulary)
    assert [p["field"] for p in problems] == [
        "filter_config.devices[1]",
        "filter_config.exclude_products[0]",
    ]
    assert problems[0]["fix"] == "use one of: android, iOS"


def test_rejected_sample_is_masked():
    rows = core.classify_rows(
        core.rows_from_request_iins(["1234567", "850315300100"]), strict_checksum=False
    )
    sample = core.rejected_sample(rows)
    assert sample == [
        {
            "source": "user_iins",
            "row": 1,
            "value": "12***67",
            "status": "invalid_iin",
            "reason": "7 digits, not 12",
        }
    ]


def test_non_ascii_digits_and_negative_numbers_are_rejected_with_their_reason():
    plain = CUSTOMERS["plain"].iin
    full_width = plain.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    rows = core.rows_from_request_iins([full_width, f"-{plain}", plain, plain])
    classified = core.classify_rows(rows, strict_checksum=False)
    assert classified["status"].to_list() == ["invalid_iin", "invalid_iin", "ok", "duplicate"]
    assert core.validation_counts(classified)["invalid_iin_removed"] == 2
    reasons = [r["reason"] for r in core.rejected_sample(classified)]
    assert reasons[0].startswith("non-ASCII digits") and reasons[1].startswith("negative")
    assert reasons[2] == "an earlier row gave the same IIN"


def test_checks_catch_broken_audiences():
    broken = pl.DataFrame({"iin": ["850315300100", "850315300100", "12"], "iin_key": [1, 1, 12]})
    assert rules.duplicate_iins(broken) == 1
    assert rules.malformed_iins(broken, require_check_digit=False) == 1
    split = pl.DataFrame({"iin_key": [1, 1, 2], "group": ["target", "control", "holdout"]})
    assert rules.target_control_overlap(split) == 1 and rules.unknown_groups(split) == 1


def test_profile_folds_every_dataset_into_one_row_per_customer():
    profile, vocabulary = _profile()
    rows = {r["iin_key"]: r for r in profile.collect().iter_rows(named=True)}
    both = rows[int(CUSTOMERS["dssb_and_acrm"].iin)]
    assert both["blacklist_mask"] == vocabulary.mask("blacklist", [ACRM, DSSB])
    zero_led = rows[int(CUSTOMERS["zero_led"].iin)]
    assert vocabulary.labels("devices", [zero_led["device_mask"]]) == {
        zero_led["device_mask"]: "android+iOS"
    }
    assert rows[int(CUSTOMERS["inactive"].iin)]["mau_latest"] is False
    assert rows[int(CUSTOMERS["no_device"].iin)]["device_mask"] == 0
    assert len(rows) == len(CUSTOMERS)


def test_the_funnel_lists_the_steps_taken_in_order_with_whom_each_removed():
    stats = {"initial_count": 10, "after_validation": 8, "after_blacklist": 7, "after_mau": 4,
             "final_count": 4, "total_removed": 6}
    assert core.funnel_steps(stats) == [
        {"step": "received", "rows_left": 10, "removed": None},
        {"step": "validation", "rows_left": 8, "removed": 2},
        {"step": "blacklist", "rows_left": 7, "removed": 1},
        {"step": "mau", "rows_left": 4, "removed": 3},  # device, push, product not asked for
    ]
