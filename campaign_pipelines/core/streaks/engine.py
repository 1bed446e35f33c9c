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
    """``requests`` (REQUEST_SCHEMA) must name each user at most once; unknown users are
    ignored (callers check them first)."""
    frame = (_sorted_flag(state).lazy()
             .join(_sorted_flag(requests).lazy(), on="user_id", how="inner")
             .with_columns(_dirty=pl.lit(False)))
    return evaluate(frame, config, run)


def _sorted_flag(frame: pl.DataFrame) -> pl.DataFrame:
    """Marks ``user_id`` sorted when it is (state and requests usually are), which lets polars
    merge-join 10M rows instead of hashing them: about twice as fast."""
    if frame["user_id"].is_sorted():
        return frame.with_columns(pl.col("user_id").set_sorted())
    return frame


def evaluate(frame: pl.LazyFrame, config: JourneyConfig, run: RunStamp) -> Decision:
    """``frame``: state columns plus ``target``/``source`` (null: nothing pending) and
    ``_dirty`` (the row changed before the engine, e.g. a completion). Updates are the rows
    that differ from what was read, or are dirty; the audit has one row per considered user.

    A refused chain hop clears ``next_eligible_streak_type``: it is tried once, so the same
    refusal is not recorded again every day.
    """
    rules = [r for r in config.rules if not any(operator_problem(a) for a in r.uas_attributes)]
    stamp = pl.lit(run.at, dtype=TIMESTAMP)
    decided = _decided(frame, config, rules)
    # One plan for both outputs: polars computes the shared verdicts once and materializes
    # only the columns each output needs (10M users: far less memory touched).
    updates, audit = pl.collect_all(
        [_updates(decided, stamp), _audit(decided, config, rules, run, stamp)])
    return Decision(updates=updates.cast(STATE_SCHEMA), audit=audit.cast(AUDIT_SCHEMA))


def _decided(frame: pl.LazyFrame, config: JourneyConfig, rules: list[Rule]) -> pl.LazyFrame:
    """Every row with its verdict flags (``_considered``, ``_released``, ``_applied``,
    ``_refused_hop``), the matching rule and the new values ``n_*``."""
    considered = pl.col("target").is_not_null() & (pl.col("target") != pl.col("streak_type"))
    released = considered & (pl.col("target") == NA)
    applied = considered & (pl.col("_rule").is_not_null() | released)
    refused_hop = considered & ~applied & (pl.col("source") == "chain")
    needed = [*STATE_SCHEMA.names(), "target", "source", "_dirty"]
    return frame.select(needed).with_columns(_rule=_rule_index(rules)).with_columns(
        _considered=considered, _released=released, _applied=applied, _refused_hop=refused_hop,
        _new_streak=pl.when(released).then(pl.lit(NA))
        .otherwise(_by_rule(pl.col("_rule"), [r.target for r in rules])),
    ).with_columns(
        n_streak_type=pl.when("_applied").then("_new_streak").otherwise("streak_type"),
        n_next_eligible=pl.when("_applied")
        .then(pl.col("_new_streak").replace_strict(config.chain_successors(), default=None,
                                                   return_dtype=pl.String))
        .when("_refused_hop").then(pl.lit(None, dtype=pl.String))
        .otherwise("next_eligible_streak_type"),
        n_status=pl.when("_released").then(pl.lit(NONE))
        .when("_applied").then(pl.lit(ACTIVE)).otherwise("streak_status"),
    )


def _updates(decided: pl.LazyFrame, stamp: pl.Expr) -> pl.LazyFrame:
    """State rows that differ from what was read, or were dirty, or had a pending request."""
    changed = (
        pl.col("_dirty") | pl.col("assign_next_streak_type").is_not_null()
        | pl.col("n_streak_type").ne_missing(pl.col("streak_type"))
        | pl.col("n_next_eligible").ne_missing(pl.col("next_eligible_streak_type"))
        | pl.col("n_status").ne_missing(pl.col("streak_status"))
    )
    return decided.filter(changed).select(
        "user_id",
        streak_type="n_streak_type",
        assign_next_streak_type=pl.lit(None, dtype=pl.String),
        next_eligible_streak_type="n_next_eligible",
        streak_status="n_status",
        updated_at=stamp,
    )


def _audit(decided: pl.LazyFrame, config: JourneyConfig, rules: list[Rule], run: RunStamp,
           stamp: pl.Expr) -> pl.LazyFrame:
    """One row per considered user: released, assigned or blocked, with rule and reason."""
    return decided.filter("_considered").select(
        "user_id",
        from_streak="streak_type",
        to_streak="target",
        action=pl.when("_released").then(pl.lit(RELEASED))
        .when("_applied").then(pl.lit(ASSIGNED)).otherwise(pl.lit(BLOCKED)),
        rule=pl.when("_released").then(pl.lit("release"))
        .otherwise(_by_rule(pl.col("_rule"), [f"{r.config_key}[{i}]"
                                              for i, r in _indexed(config, rules)])),
        reason=pl.when("_applied").then(pl.lit(None, dtype=pl.String))
        .otherwise(_refusal_reason(config, rules)),
        source="source",
        run_id=pl.lit(run.run_id),
        recorded_at=stamp,
    )


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


def _refusal_reason(config: JourneyConfig, rules: list[Rule]) -> pl.Expr:
    """Per target: what its rules demand (the user's streak is in ``from_streak``) or that no
    rule assigns it. One lookup per row, no per-row string building: 10M rows stay cheap."""
    demands: dict[str, list[str]] = {}
    for rule in rules:
        needs = " AND ".join(a.describe() for a in rule.uas_attributes) or "nothing"
        demands.setdefault(rule.campaign or "", []).append(f"({needs})")
    text = {name: f"no rule assigns {name}" for name in config.campaign_names()}
    text |= {name: "uas not met: needs " + " OR ".join(needs) for name, needs in demands.items()}
    return pl.col("target").replace_strict(text, default=pl.lit("unknown campaign"),
                                           return_dtype=pl.String)


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
