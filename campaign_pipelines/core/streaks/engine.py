"""The rule engine: pending assignments in, state updates and audit rows out, vectorised.

For every user with a pending assignment (``target``), the first rule in config order whose
``conditions.assign_next_streak_type`` equals the target and whose uas attributes all hold on
the user's current state applies: the user moves to the rule's
``metadata.next_eligible_streak_type``, their ``next_eligible_streak_type`` becomes that
campaign's chain successor and the streak is ``active``. Otherwise the user stays where they are
and the audit records why. A target of "NA" releases the user (chain end or a manual release).
A target equal to the user's current streak changes nothing and is not recorded.

Rules are turned into one boolean polars expression each and combined with ``coalesce``, so the
cost is a handful of column passes whatever the number of users (see bench/bench_streaks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from campaign_pipelines.core.streaks.config import NA, JourneyConfig, Rule
from campaign_pipelines.core.streaks.operators import expression, operator_problem

ACTIVE, COMPLETED, NONE = "active", "completed", "none"
ASSIGNED, BLOCKED, RELEASED = "assigned", "blocked", "released"
SOURCES = ("batch", "manual", "chain")
TIMESTAMP = pl.Datetime("us", "UTC")

STATE_SCHEMA = pl.Schema({
    "user_id": pl.Int64,
    "streak_type": pl.String,
    "assign_next_streak_type": pl.String,
    "next_eligible_streak_type": pl.String,
    "streak_status": pl.String,
    "updated_at": TIMESTAMP,
})
REQUEST_SCHEMA = pl.Schema({"user_id": pl.Int64, "target": pl.String, "source": pl.String})
AUDIT_SCHEMA = pl.Schema({
    "user_id": pl.Int64,
    "from_streak": pl.String,
    "to_streak": pl.String,
    "action": pl.String,
    "rule": pl.String,
    "reason": pl.String,
    "source": pl.String,
    "run_id": pl.String,
    "recorded_at": TIMESTAMP,
})


@dataclass(frozen=True)
class RunStamp:
    run_id: str
    at: datetime  # timezone-aware


@dataclass(frozen=True)
class Decision:
    updates: pl.DataFrame  # STATE_SCHEMA rows to upsert
    audit: pl.DataFrame  # AUDIT_SCHEMA rows to append


def decide(state: pl.DataFrame, requests: pl.DataFrame, config: JourneyConfig,
           run: RunStamp) -> Decision:
    """``requests`` (REQUEST_SCHEMA) must name each user at most once and only known users."""
    rules = [r for r in config.rules if not any(operator_problem(a) for a in r.uas_attributes)]
    pending = (
        requests.lazy()
        .join(state.lazy(), on="user_id", how="inner")
        .filter(pl.col("target") != pl.col("streak_type"))
        .with_columns(_rule_index(rules).alias("_rule"))
    )
    released = pl.col("target") == NA
    applied = pl.col("_rule").is_not_null() | released
    new_streak = (pl.when(released).then(pl.lit(NA))
                  .otherwise(_by_rule(pl.col("_rule"), [r.target for r in rules])))
    stamp = pl.lit(run.at, dtype=TIMESTAMP)
    decided = pending.with_columns(
        _applied=applied,
        _new_streak=new_streak,
        _action=pl.when(released).then(pl.lit(RELEASED))
        .when(applied).then(pl.lit(ASSIGNED)).otherwise(pl.lit(BLOCKED)),
    ).collect()
    updates = decided.filter(
        pl.col("_applied") | pl.col("assign_next_streak_type").is_not_null()
    ).select(
        "user_id",
        streak_type=pl.when("_applied").then("_new_streak").otherwise("streak_type"),
        assign_next_streak_type=pl.lit(None, dtype=pl.String),
        next_eligible_streak_type=pl.when("_applied")
        .then(pl.col("_new_streak").replace_strict(config.chain_successors(), default=None,
                                                   return_dtype=pl.String))
        .otherwise("next_eligible_streak_type"),
        streak_status=pl.when(released).then(pl.lit(NONE))
        .when("_applied").then(pl.lit(ACTIVE)).otherwise("streak_status"),
        updated_at=stamp,
    )
    audit = decided.select(
        "user_id",
        from_streak="streak_type",
        to_streak="target",
        action="_action",
        rule=pl.when(released).then(pl.lit("release"))
        .otherwise(_by_rule(pl.col("_rule"), [f"{r.config_key}[{i}]"
                                              for i, r in _indexed(config, rules)])),
        reason=pl.when(pl.col("_applied")).then(pl.lit(None, dtype=pl.String))
        .otherwise(_refusal_reason(rules)),
        source="source",
        run_id=pl.lit(run.run_id),
        recorded_at=stamp,
    )
    return Decision(updates=updates.cast(STATE_SCHEMA), audit=audit.cast(AUDIT_SCHEMA))


def _indexed(config: JourneyConfig, rules: list[Rule]) -> list[tuple[int, Rule]]:
    """Each usable rule with its position in the config, so audit labels match the file."""
    return [(config.rules.index(rule), rule) for rule in rules]


def _rule_index(rules: list[Rule]) -> pl.Expr:
    """Index of the first rule that serves the target and whose attributes all hold."""
    if not rules:
        return pl.lit(None, dtype=pl.Int32)
    matches = []
    for index, rule in enumerate(rules):
        test = pl.col("target") == rule.campaign
        if rule.uas_attributes:
            test = test & pl.all_horizontal([expression(a) for a in rule.uas_attributes])
        matches.append(pl.when(test).then(pl.lit(index, dtype=pl.Int32)))
    return pl.coalesce(matches)


def _by_rule(index: pl.Expr, values: list[str | None]) -> pl.Expr:
    mapping = dict(enumerate(values))
    return index.replace_strict(mapping, default=None, return_dtype=pl.String)


def _refusal_reason(rules: list[Rule]) -> pl.Expr:
    """"no rule assigns X", or what X's rules demand next to what the user is on."""
    demands: dict[str, list[str]] = {}
    for rule in rules:
        needs = " AND ".join(a.describe() for a in rule.uas_attributes) or "nothing"
        demands.setdefault(rule.campaign or "", []).append(needs)
    text = {name: " OR ".join(f"({d})" for d in needs) for name, needs in demands.items()}
    demanded = pl.col("target").replace_strict(text, default=None, return_dtype=pl.String)
    return (
        pl.when(demanded.is_null())
        .then(pl.concat_str([pl.lit("no rule assigns "), pl.col("target")]))
        .otherwise(pl.concat_str([
            pl.lit("uas not met: "), pl.col("target"), pl.lit(" requires "), demanded,
            pl.lit("; user is on "), pl.col("streak_type"),
            pl.lit(" ("), pl.col("streak_status").fill_null("?"), pl.lit(")"),
        ]))
    )


def summarize(audit: pl.DataFrame) -> dict[str, object]:
    """Run metadata: assigned and blocked per campaign, manual moves, chain hops."""
    def per_campaign(frame: pl.DataFrame) -> dict[str, int]:
        counts = frame.group_by("to_streak").len().sort("to_streak")
        return {str(k): int(v) for k, v in counts.iter_rows()}

    done = audit.filter(pl.col("action") != BLOCKED)
    blocked = audit.filter(pl.col("action") == BLOCKED)
    return {
        "assigned_per_campaign": per_campaign(done.filter(pl.col("source") == "batch")),
        "blocked_per_campaign": per_campaign(blocked),
        "blocked_total": blocked.height,
        "manual_moves": done.filter(pl.col("source") == "manual").height,
        "chain_hops": done.filter(pl.col("source") == "chain").height,
        "audit_rows": audit.height,
    }
