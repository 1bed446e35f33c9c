"""``python -m campaign_pipelines.demo.client_events``: the demo's client events, what the bank's
event feed would load into ``sources.client_events(iin, event, event_date)``, so that every
deployed demo campaign has an outcome to measure against its control group.

`make demo` runs it after `campaigns run-pending`: it reads the deployed campaigns back from
the warehouse (the registry's period, the TARGET_ACTION of the metadata dictionaries, the
members of dssb_ocds.mb22_local_target and dssb_ocds.mb21_local_control) and replaces the whole
table in one transaction, so a rerun gives the same rows (seeded).

Decisions:
- Each group converts at the rate ``EFFECTS`` gives its campaign (``NO_EFFECT`` otherwise):
  exactly round(rate × members) members of the group, drawn at random, each with one event
  named by the campaign's action on a day of its period. Exact counts rather than coin flips,
  so the demo measures the rates it was built with. A group's rate is all its conversions,
  organic ones included: the control rate is the baseline.
- Which campaign has an effect: at 200,000 demo customers the loyalty cashback deploys 634
  target and 159 control members, the spring push 362 and 39. An uplift of 4 points would
  not be seen by either (the 95 % interval is about ±5 points wide for the loyalty groups), so
  the loyalty cashback doubles spending (8 % to 16 %, an interval that excludes 0), the spring
  push changes nothing (8 % and 8 %), and the seed example has no control group at all: three
  outcomes an analyst meets.
- Background noise, ``NOISE_PER_CUSTOMER`` events per customer of sources.customers on days
  around the campaigns' periods: app logins, card payments, transfers, and the campaigns'
  actions among clients in none of their groups (a member's conversions are the ones drawn
  above, so the noise does not change the designed rates).
- A campaign whose TARGET_ACTION is missing or not an event name (core/requests.py
  ``EVENT_NAME``, as the outcome reads it) gets no conversions, and the summary says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse, transaction
from campaign_pipelines.core.deployment import (
    CAMPAIGN_REGISTRY,
    MB01_CAMP_DICT,
    MB21_LOCAL_CONTROL,
    MB22_LOCAL_TARGET,
    RB3_TR_CAMPAIGN_DICT,
)
from campaign_pipelines.core.requests import EVENT_NAME
from campaign_pipelines.core.split import CONTROL, TARGET

CLIENT_EVENTS_TABLE = "sources.client_events"
EVENTS_SCHEMA = pl.Schema({"iin": pl.String, "event": pl.String, "event_date": pl.Date})
NOISE_EVENTS = ("app_login", "card_payment", "transfer")
NOISE_PER_CUSTOMER = 2
NOISE_MARGIN_DAYS = 14
SEED = 7


@dataclass(frozen=True)
class Effect:
    target_rate: float
    control_rate: float


NO_EFFECT = Effect(0.08, 0.08)
# By campaign key (the request file's stem, landing_samples.py).
EFFECTS = {"loyalty_bonus_rb3": Effect(0.16, 0.08), "spring_push_rb1": NO_EFFECT}

CAMPAIGNS_SQL = f"""
SELECT r.campaign_key, r.campaign_code, r.date_start, r.date_end, d.TARGET_ACTION AS action
FROM {CAMPAIGN_REGISTRY.qualified} r
LEFT JOIN (SELECT CAMPAIGNCODE, TARGET_ACTION FROM {MB01_CAMP_DICT.qualified}
           UNION ALL SELECT CAMPAIGNCODE, TARGET_ACTION FROM {RB3_TR_CAMPAIGN_DICT.qualified}) d
  ON d.CAMPAIGNCODE = r.campaign_code
WHERE r.deleted_at IS NULL
ORDER BY r.campaign_code
"""  # noqa: S608 - table names are this package's constants
MEMBERS_SQL = f"""
SELECT CAMPAIGNCODE AS campaign_code, IIN AS iin, '{TARGET}' AS "group"
FROM {MB22_LOCAL_TARGET.qualified}
UNION ALL
SELECT CAMPAIGNCODE, IIN, '{CONTROL}' FROM {MB21_LOCAL_CONTROL.qualified}
"""  # noqa: S608


def conversions(campaigns: pl.DataFrame, members: pl.DataFrame,
                rng: np.random.Generator) -> tuple[pl.DataFrame, list[dict]]:
    """The members' conversion events and one summary row per campaign."""
    frames, summary = [EVENTS_SCHEMA.to_frame()], []
    for campaign in campaigns.sort("campaign_code").iter_rows(named=True):
        effect = EFFECTS.get(campaign["campaign_key"], NO_EFFECT)
        row = {"campaign": campaign["campaign_code"], "key": campaign["campaign_key"],
               "action": campaign["action"]}
        for group, rate in ((TARGET, effect.target_rate), (CONTROL, effect.control_rate)):
            iins = (members.filter(campaign_code=campaign["campaign_code"], group=group)
                    .get_column("iin").unique().sort())
            converted = round(rate * len(iins)) if campaign["action"] else 0
            chosen = iins.gather(np.sort(rng.choice(len(iins), converted, replace=False)))
            frames.append(_events(chosen, campaign["action"], campaign["date_start"],
                                  campaign["date_end"], rng))
            row |= {f"{group}_users": len(iins), f"{group}_converted": converted}
        if not campaign["action"]:
            row["note"] = ("no TARGET_ACTION spelled as an event name in its metadata: no "
                           "conversions generated")
        summary.append(row)
    return pl.concat(frames), summary


def _events(iins: pl.Series, action: str, start: date, end: date,
            rng: np.random.Generator) -> pl.DataFrame:
    """One ``action`` event per IIN on a day of start..end drawn at random."""
    days = np.datetime64(start, "D") + rng.integers(0, (end - start).days + 1, len(iins))
    return pl.DataFrame({"iin": iins, "event": [action] * len(iins), "event_date": days},
                        schema=EVENTS_SCHEMA)


def noise(customers: pl.Series, campaigns: pl.DataFrame, members: pl.DataFrame,
          rng: np.random.Generator) -> pl.DataFrame:
    """NOISE_PER_CUSTOMER events per customer, each on a day around a campaign's period drawn
    at random; the campaigns' actions only among clients who are in none of their groups."""
    if customers.is_empty() or campaigns.is_empty():
        return EVENTS_SCHEMA.to_frame()
    count = len(customers) * NOISE_PER_CUSTOMER
    actions = sorted(set(campaigns.get_column("action").drop_nulls()))
    names = np.array([*NOISE_EVENTS, *actions])
    periods = campaigns.sort("campaign_code")
    which = rng.integers(0, periods.height, count)
    starts = periods.get_column("date_start").to_numpy().astype("datetime64[D]")[which]
    ends = periods.get_column("date_end").to_numpy().astype("datetime64[D]")[which]
    spans = (ends - starts).astype(np.int64) + 2 * NOISE_MARGIN_DAYS + 1
    drawn = pl.DataFrame({
        "iin": customers.gather(rng.integers(0, len(customers), count)),
        "event": names[rng.integers(0, len(names), count)],
        "event_date": starts - NOISE_MARGIN_DAYS + rng.integers(0, spans),
    })
    members_actions = members.join(campaigns.select("campaign_code", event="action"),
                                   on="campaign_code").select("iin", "event").unique()
    return drawn.join(members_actions, on=["iin", "event"], how="anti").cast(EVENTS_SCHEMA)


def generate_events(campaigns: pl.DataFrame, members: pl.DataFrame, customers: pl.Series,
                    seed: int = SEED) -> tuple[pl.DataFrame, list[dict]]:
    """EVENTS_SCHEMA rows (conversions and noise, sorted) and the per-campaign summary."""
    rng_conversions, rng_noise = (np.random.default_rng(s)
                                  for s in np.random.SeedSequence(seed).spawn(2))
    converted, summary = conversions(campaigns, members, rng_conversions)
    events = pl.concat([converted, noise(customers.sort(), campaigns, members, rng_noise)])
    return events.sort("event_date", "iin", "event"), summary


def _event_name(action: str) -> str | None:
    return action if EVENT_NAME.fullmatch(action) else None


def read_world(warehouse: DuckDBWarehouse) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """The deployed campaigns, their members (campaign_code, iin, group) and the customers."""
    campaigns = warehouse.fetch(CAMPAIGNS_SQL).with_columns(
        action=pl.col("action").map_elements(_event_name, return_dtype=pl.String))
    members = warehouse.fetch(MEMBERS_SQL).join(campaigns.select("campaign_code"),
                                                 on="campaign_code", how="semi")
    customers = warehouse.fetch("SELECT iin FROM sources.customers").get_column("iin")
    return campaigns, members, customers


def write_events(warehouse: DuckDBWarehouse, events: pl.DataFrame) -> None:
    """Replaces every row of sources.client_events in one transaction (the table as
    duckdb_sources.sql declares it, created first if missing)."""
    warehouse.init_sources()
    with warehouse.connect() as connection, transaction(connection):
        connection.register("demo_client_events", events.select(EVENTS_SCHEMA.names()).to_arrow())
        connection.execute(f"DELETE FROM {CLIENT_EVENTS_TABLE}")  # noqa: S608
        connection.execute(f"INSERT INTO {CLIENT_EVENTS_TABLE} (iin, event, event_date) "  # noqa: S608
                           "SELECT iin, event, event_date FROM demo_client_events")
        connection.unregister("demo_client_events")


def write_client_events(database: Path, seed: int = SEED) -> dict[str, object]:
    """Reads the deployed demo campaigns, generates their events and replaces the table."""
    warehouse = DuckDBWarehouse(Path(database))
    events, summary = generate_events(*read_world(warehouse), seed=seed)
    write_events(warehouse, events)
    return {"rows": events.height, "campaigns": summary}


def main() -> int:
    from campaign_pipelines.defs.settings import read_settings

    summary = write_client_events(read_settings().database)
    print(f"{CLIENT_EVENTS_TABLE}: {summary['rows']:,} demo events written")
    for row in summary["campaigns"]:  # type: ignore[attr-defined]
        line = (f"  {row['campaign']} ({row['key']}) on {row['action']!s}: target "
                f"{row['target_converted']:,} of {row['target_users']:,}, control "
                f"{row['control_converted']:,} of {row['control_users']:,}")
        print(line + (f"; {row['note']}" if "note" in row else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
