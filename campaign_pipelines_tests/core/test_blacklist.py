"""Which blacklist a campaign applies and how it is applied, without Dagster."""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from campaign_pipelines.core import audience as core
from campaign_pipelines.core import blacklist
from campaign_pipelines.core.blacklist import LIVE, SNAPSHOT, Snapshot
from campaign_pipelines.core.requests import FilterConfig
from campaign_pipelines_tests.bank import ACRM, CUSTOMERS, DSSB, NO_WORKER
from campaign_pipelines_tests.core.test_audience import _profile, _valid

NOW = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
MORNING = Snapshot(as_of=NOW - timedelta(hours=6), sources=frozenset({ACRM, DSSB, NO_WORKER}))


@pytest.mark.parametrize(
    ("snapshot", "max_age_s", "kind", "why"),
    [
        (MORNING, 3600, LIVE, "21600 s old; maximum age is 3600 s"),
        (MORNING, 86_400, SNAPSHOT, "21600 s old, within 86400 s"),
        (Snapshot(NOW, MORNING.sources), 0, LIVE, "0 s old; maximum age is 0 s"),
        (None, 86_400, LIVE, "no reference/blacklist materialization"),
        (Snapshot(MORNING.as_of, frozenset({DSSB})), 86_400, LIVE, f"lacks sources ['{ACRM}']"),
    ],
)
def test_choose_takes_the_snapshot_only_while_young_and_complete(snapshot, max_age_s, kind, why):
    chosen, reason = blacklist.choose(snapshot, [ACRM], max_age_s, NOW)
    assert chosen == kind and why in reason


def test_extract_labels_keys_and_counts_each_source_with_its_own_sql():
    tables = {
        "SQL A": pl.DataFrame({"IIN": ["850315300100", " 850315300100", "junk"]}),
        "SQL B": pl.DataFrame({"iin": [10203500101]}, schema={"iin": pl.Int64}),
    }
    asked = []

    def fetch(sql: str) -> pl.DataFrame:
        asked.append(sql)
        return tables[sql]

    frame, per_source, dropped = blacklist.extract_blacklists(fetch, {ACRM: "SQL A", DSSB: "SQL B"})
    assert asked == ["SQL A", "SQL B"]
    assert per_source == {ACRM: 1, DSSB: 1} and dropped == 1
    assert frame.schema == pl.Schema(blacklist.SCHEMA)
    assert sorted(frame.rows()) == [(10203500101, DSSB), (850315300100, ACRM)]
    empty, none, _ = blacklist.extract_blacklists(fetch, {})
    assert empty.height == 0 and none == {} and empty.schema == pl.Schema(blacklist.SCHEMA)


def test_applied_rows_and_their_counts_cover_only_the_sources_applied():
    stored = pl.DataFrame(
        {"iin_key": [1, 2, 2, 3], "source": [ACRM, ACRM, DSSB, NO_WORKER]}, schema=blacklist.SCHEMA
    )
    rows = blacklist.applied_rows(stored.lazy(), [DSSB, "empty_source"])
    assert rows.rows() == [(2, DSSB)]
    assert blacklist.rows_per_source(rows, [DSSB, "empty_source"]) == {DSSB: 1, "empty_source": 0}


def test_provenance_says_kind_time_and_age():
    said = blacklist.provenance(SNAPSHOT, MORNING.as_of, NOW, {ACRM: 3}, 86_400, "why")
    assert said == {
        "kind": "reference snapshot",
        "as_of": "2026-11-30T05:00:00+00:00",
        "age_s": 21600.0,
        "max_age_s": 86_400,
        "rows_per_source": {ACRM: 3},
        "reason": "why",
    }


def test_filter_removes_exactly_the_applied_blacklist_instead_of_the_profile_bits():
    profile, vocabulary = _profile()
    # The profile (this morning) lists acrm_listed; the blacklist applied now lists plain only.
    applied = pl.DataFrame(
        {"iin_key": [int(CUSTOMERS["plain"].iin)], "source": [ACRM]}, schema=blacklist.SCHEMA
    )
    valid = _valid("plain", "acrm_listed", "ios_deposit")
    audience, stats = core.filter_audience(
        valid, FilterConfig(), profile, vocabulary, [ACRM], blacklisted=applied
    )
    by_iin = {c.iin: n for n, c in CUSTOMERS.items()}
    assert {by_iin[i] for i in audience["iin"]} == {"acrm_listed", "ios_deposit"}
    assert (stats["blacklist_removed"], stats["after_blacklist"]) == (1, 2)


def test_removal_is_one_membership_test_that_keeps_order():
    audience = pl.DataFrame({"iin_key": [5, 1, 4, 2, 3], "x": list("abcde")})
    listed = pl.DataFrame({"iin_key": [4, 4, 1, 99], "source": [ACRM, DSSB, ACRM, ACRM]})
    assert blacklist.remove_blacklisted(audience, listed)["iin_key"].to_list() == [5, 2, 3]
