from datetime import UTC, date, datetime

import polars as pl
import pytest

from campaign_pipelines.core.metrics.rollup import (
    KPI_DAILY,
    KPI_SCHEMA,
    Activity,
    daily_kpis,
    send_totals,
    utc_bounds,
    violations,
)

DAY = date(2026, 11, 30)  # Almaty; 2026-11-29 19:00 UTC .. 2026-11-30 19:00 UTC


def utc(hour: int, minute: int = 0, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def frame(rows: list[tuple], columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=columns, orient="row")


DEPLOYMENTS = frame([
    ("C000000001", "dssb_ocds.mb22_local_target", 900, utc(4)),
    ("C000000001", "dssb_ocds.mb21_local_control", 100, utc(4)),
    ("C000000001", "dssb_ocds.mb01_camp_dict", 1, utc(4)),
    ("C000000002", "dssb_ocds.mb22_local_target", 50, utc(20, day=29)),  # 01:00 Almaty, 30th
], ["campaign_code", "table_name", "row_count", "loaded_at"])
AUDIT = frame([
    (1, "none", "welcome", "assigned", "batch", utc(2)),
    (2, "none", "welcome", "assigned", "batch", utc(2)),
    (3, "none", "welcome", "assigned", "manual", utc(3)),
    (4, "welcome", "activation", "assigned", "chain", utc(3)),
    (5, "retention", "welcome", "blocked", "manual", utc(3)),
    (6, "welcome", "NA", "released", "manual", utc(3)),
], ["user_id", "from_streak", "to_streak", "action", "source", "recorded_at"])
EMAIL_LEDGER = frame([
    ("drip", "sent", utc(6)), ("drip", "sent", utc(7)), ("drip", "failed", utc(8)),
    ("drip", "suppressed", utc(9)), ("drip", "queued", utc(10)),
    ("drip", "sent", utc(20)),  # due at 01:00 on 1 December in Almaty
], ["sequence", "state", "due_at"])
UNSUBSCRIBES = frame([("drip", utc(11))], ["campaign", "received_at"])
SMS_LEDGER = frame([
    ("promo", "delivered", utc(5)), ("promo", "delivered", utc(5)),
    ("promo", "undelivered", utc(5)), ("promo", "failed", utc(5)), ("promo", "sent", utc(5)),
    ("promo", "suppressed", utc(5)), ("promo", "expired", utc(5)), ("promo", "queued", utc(5)),
], ["campaign", "state", "queued_at"])
SMS_EVENTS = frame([
    ("promo", "inbound", "reply", utc(6)), ("promo", "inbound", "opt_out", utc(7)),
    ("promo", "status", "applied", utc(7)), (None, "inbound", "reply", utc(7)),
], ["campaign", "kind", "outcome", "received_at"])
EVERYTHING = Activity(deployments=DEPLOYMENTS, streak_audit=AUDIT, email_ledger=EMAIL_LEDGER,
                      email_unsubscribes=UNSUBSCRIBES, sms_ledger=SMS_LEDGER,
                      sms_events=SMS_EVENTS)


def row(kpis: pl.DataFrame, campaign: str, channel: str) -> dict:
    rows = kpis.filter(campaign=campaign, channel=channel).to_dicts()
    assert len(rows) == 1, (campaign, channel, rows)
    return rows[0]


def test_a_hand_built_day_rolls_up_to_its_independent_counts():
    kpis = daily_kpis(EVERYTHING, DAY, DAY)
    assert kpis.schema == KPI_SCHEMA
    assert {k: row(kpis, "C000000001", "deploy")[k] for k in ("target", "control")} == {
        "target": 900, "control": 100}
    assert row(kpis, "C000000002", "deploy")["target"] == 50
    welcome = row(kpis, "welcome", "streaks")
    assert [welcome[k] for k in ("assigned_batch", "assigned_manual", "assigned_chain",
                                 "blocked", "released")] == [2, 1, 0, 1, 1]
    assert row(kpis, "activation", "streaks")["assigned_chain"] == 1
    drip = row(kpis, "drip", "email")
    assert [drip[k] for k in ("queued", "sent", "delivered", "failed", "unsubscribes")] == [
        5, 3, None, 1, 1]
    assert drip["failure_rate"] == pytest.approx(1 / 3) and drip["delivery_rate"] is None
    assert drip["opt_out_rate"] == pytest.approx(1 / 3)
    promo = row(kpis, "promo", "sms")
    assert [promo[k] for k in ("queued", "sent", "delivered", "failed", "replies",
                               "opt_outs", "unsubscribes", "target")] == [
        8, 5, 2, 2, 2, 1, None, None]
    assert promo["delivery_rate"] == pytest.approx(0.4)
    assert promo["opt_out_rate"] == pytest.approx(0.2)
    assert kpis.height == 6 and violations(kpis).is_empty()


def test_19_30_utc_belongs_to_the_next_almaty_day():
    ledger = frame([("promo", "sent", utc(19, 30, day=29)), ("promo", "sent", utc(18, 59, 29))],
                   ["campaign", "state", "queued_at"])
    kpis = daily_kpis(Activity(sms_ledger=ledger), date(2026, 11, 29), DAY)
    assert kpis.select("day", "queued").rows() == [(date(2026, 11, 29), 1), (DAY, 1)]


def test_naive_timestamps_are_taken_as_utc():
    ledger = frame([("promo", "sent", datetime(2026, 11, 29, 19, 30))],
                   ["campaign", "state", "queued_at"])
    assert daily_kpis(Activity(sms_ledger=ledger), DAY, DAY)["day"].to_list() == [DAY]


def test_rows_outside_the_days_asked_for_are_left_out():
    kpis = daily_kpis(EVERYTHING, date(2026, 12, 1), date(2026, 12, 1))
    assert kpis.select("campaign", "channel", "queued").rows() == [("drip", "email", 1)]


def test_an_absent_or_empty_domain_contributes_no_rows():
    assert daily_kpis(Activity(), DAY, DAY).equals(KPI_SCHEMA.to_frame())
    empty = Activity(sms_ledger=SMS_LEDGER.clear(), streak_audit=AUDIT.clear(),
                     deployments=DEPLOYMENTS)
    assert set(daily_kpis(empty, DAY, DAY)["channel"]) == {"deploy"}


def test_a_day_with_replies_but_no_sends_has_zero_counts_and_no_rates():
    kpis = daily_kpis(Activity(sms_events=SMS_EVENTS), DAY, DAY)
    promo = row(kpis, "promo", "sms")
    assert (promo["queued"], promo["sent"], promo["replies"]) == (0, 0, 2)
    assert promo["delivery_rate"] is None and promo["opt_out_rate"] is None


def test_an_unknown_ledger_state_is_refused_not_counted_as_queued():
    ledger = frame([("promo", "bounced", utc(5))], ["campaign", "state", "queued_at"])
    with pytest.raises(ValueError, match=r"SMS ledger: unknown ledger states \['bounced'\]"):
        daily_kpis(Activity(sms_ledger=ledger), DAY, DAY)


def test_invariants_flag_each_bad_row():
    good = daily_kpis(EVERYTHING, DAY, DAY)
    sms = good.filter(channel="sms")

    def broken(name: str, **values: int) -> pl.DataFrame:
        return sms.with_columns(campaign=pl.lit(name),
                                **{k: pl.lit(v, pl.Int64) for k, v in values.items()})

    bad = pl.concat([good, broken("negative", replies=-1), broken("overdelivered", delivered=9),
                     broken("oversent", sent=9), good.filter(channel="deploy").head(1)])
    found = violations(bad).select("campaign", "rule").rows()
    assert sorted(found) == sorted([
        ("negative", "a count is negative"),
        ("overdelivered", "delivered + failed > sent"),
        ("oversent", "sent > queued"),
        ("C000000001", "the day, campaign and channel repeat"),
        ("C000000001", "the day, campaign and channel repeat"),
    ])


def test_utc_bounds_cover_the_almaty_day():
    assert utc_bounds(DAY, DAY) == (utc(19, day=29), utc(19))


def test_the_warehouse_table_has_the_schema_columns_in_order():
    assert KPI_DAILY.column_names == KPI_SCHEMA.names()
    assert KPI_DAILY.qualified == "campaign_ops.kpi_daily"


def test_send_totals_sum_each_send_channel_over_the_days_and_leave_the_others_out():
    days = pl.concat([daily_kpis(EVERYTHING, DAY, DAY),
                      daily_kpis(Activity(sms_ledger=SMS_LEDGER.with_columns(
                          queued_at=pl.col("queued_at").dt.offset_by("1d"))), DAY,
                          date(2026, 12, 1))])
    totals = send_totals(days)
    assert set(totals) == {"email", "sms"}  # no deploy or streak counts
    sms = [row(days.filter(day=d), "promo", "sms") for d in (DAY, date(2026, 12, 1))]
    assert totals["sms"] == {c: sum(r[c] or 0 for r in sms) for c in totals["sms"]}
    assert totals["sms"]["queued"] == 2 * sms[0]["queued"] > 0
    assert totals["email"]["sent"] == row(days, "drip", "email")["sent"]
    assert send_totals(days.filter(pl.col("channel") == "deploy")) == {}
