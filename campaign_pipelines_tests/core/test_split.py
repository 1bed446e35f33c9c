import polars as pl

from campaign_pipelines.core.requests import ControlGroup
from campaign_pipelines.core.split import split_audience, split_counts


def _audience(n: int) -> pl.DataFrame:
    keys = pl.Series("iin_key", range(850315000000, 850315000000 + n), dtype=pl.Int64)
    return pl.DataFrame({"iin": keys.cast(pl.String), "iin_key": keys})


def _strata(audience: pl.DataFrame) -> pl.Expr:
    return pl.when(pl.col("iin_key") % 4 == 0).then(pl.lit("a")).otherwise(pl.lit("b"))


def test_same_seed_same_split_other_seed_other_split():
    audience = _audience(10_000)
    control = ControlGroup(share=0.1)
    first = split_audience(audience, control, _strata(audience), "spring")
    again = split_audience(audience.reverse(), control, _strata(audience), "spring")
    other = split_audience(audience, control, _strata(audience), "autumn")
    assert first.sort("iin_key").equals(again.sort("iin_key"))
    assert not first.sort("iin_key")["group"].equals(other.sort("iin_key")["group"])


def test_each_stratum_gets_its_share_and_groups_are_disjoint():
    audience = _audience(10_000)
    split = split_audience(audience, ControlGroup(share=0.2), _strata(audience), "seed")
    counts = {r["stratum"]: r for r in split_counts(split).iter_rows(named=True)}
    assert counts["a"]["control"] == 500 and counts["b"]["control"] == 1500
    assert split.height == audience.height and split["iin_key"].n_unique() == split.height


def test_no_control_group_means_everyone_is_target():
    audience = _audience(50)
    split = split_audience(audience, None, _strata(audience), "seed")
    assert set(split["group"]) == {"target"}
