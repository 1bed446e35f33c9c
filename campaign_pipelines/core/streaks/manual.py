"""Manual assignment files: ``user_id,streak`` rows that move users by hand (experiments).

The whole file is accepted or refused: a file with one unknown user or streak moves nobody,
so a retry after the fix never applies half a file twice. Moves go through the same rule
engine with source ``manual``: experiment rules carry no NA check, so any streak → any
experiment works; a batch campaign's NA check still holds. "NA" as the streak releases a user.
"""

from __future__ import annotations

import io

import polars as pl

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.streaks.config import NA, JourneyConfig
from campaign_pipelines.core.streaks.engine import Decision, RunStamp, decide

COLUMNS = ("user_id", "streak")
_SAMPLE = 20  # an error lists at most this many offending values


class AssignmentError(ProblemsError):
    """A manual-assignment file that cannot be applied, named by ``name``."""

    def __init__(self, name: str, problems: list[dict[str, object]]):
        self.name = name
        super().__init__(problems, name)


def parse_assignments(data: bytes, name: str) -> pl.DataFrame:
    """(row, user_id, streak) with ``row`` the 1-based data row; AssignmentError if malformed."""
    try:
        raw = pl.read_csv(io.BytesIO(data), infer_schema=False, truncate_ragged_lines=False)
    except Exception as error:  # polars raises several types for unreadable CSV
        raise AssignmentError(name, [{"field": "(file)", "problem": f"not a CSV: {error}",
                                      "fix": "save as UTF-8 CSV with header user_id,streak"}]) \
            from None
    header = [c.strip().lower() for c in raw.columns]
    if tuple(header) != COLUMNS:
        raise AssignmentError(name, [{"field": "header", "problem": f"columns are {raw.columns}",
                                      "fix": "the header must be exactly user_id,streak"}])
    frame = raw.rename(dict(zip(raw.columns, COLUMNS, strict=True))).with_row_index("row", 1)
    frame = frame.with_columns(pl.col("user_id").str.strip_chars(),
                               pl.col("streak").str.strip_chars())
    parsed = frame.with_columns(user=pl.col("user_id").cast(pl.Int64, strict=False))
    problems = []
    bad_ids = parsed.filter(pl.col("user").is_null())
    if bad_ids.height:
        problems.append({"field": "user_id", "problem": "not an integer in rows "
                         f"{_sample(bad_ids['row'])}", "fix": "give the numeric user_id"})
    empty = parsed.filter(pl.col("streak").fill_null("") == "")
    if empty.height:
        problems.append({"field": "streak", "problem": f"empty in rows {_sample(empty['row'])}",
                         "fix": "name the target streak (or NA to release the user)"})
    if frame.height == 0:
        problems.append({"field": "(file)", "problem": "no data rows",
                         "fix": "add user_id,streak rows below the header"})
    if problems:
        raise AssignmentError(name, problems)
    result = parsed.select("row", pl.col("user").alias("user_id"), "streak")
    _check_conflicts(result, name)
    return result.unique(["user_id", "streak"], keep="first", maintain_order=True)


def _check_conflicts(rows: pl.DataFrame, name: str) -> None:
    conflicts = rows.group_by("user_id").agg(pl.col("streak").n_unique().alias("n")).filter(
        pl.col("n") > 1)
    if conflicts.height:
        raise AssignmentError(name, [{
            "field": "user_id",
            "problem": f"users given two different streaks: {_sample(conflicts['user_id'])}",
            "fix": "keep one row per user",
        }])


def check_streaks(rows: pl.DataFrame, config: JourneyConfig, name: str) -> None:
    valid = [*config.campaign_names(), NA]
    unknown = rows.filter(~pl.col("streak").is_in(valid))
    if unknown.height:
        raise AssignmentError(name, [{
            "field": "streak",
            "problem": f"unknown streaks {_sample(unknown['streak'].unique(maintain_order=True))}"
                       f" in rows {_sample(unknown['row'])}",
            "fix": f"use one of the valid streaks: {valid}",
        }])


def check_users(rows: pl.DataFrame, known_users: pl.Series, name: str) -> None:
    unknown = rows.filter(~pl.col("user_id").is_in(known_users.implode()))
    if unknown.height:
        raise AssignmentError(name, [{
            "field": "user_id",
            "problem": f"{unknown.height} unknown users, e.g. {_sample(unknown['user_id'])} "
                       f"(rows {_sample(unknown['row'])})",
            "fix": f"use users present in campaign_ops.user_streak_state "
                   f"({known_users.len()} users)",
        }])


def manual_requests(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select("user_id", target="streak", source=pl.lit("manual"))


def _sample(values: pl.Series) -> list:
    listed = values.head(_SAMPLE).to_list()
    return listed + ["…"] if values.len() > _SAMPLE else listed


def plan_manual(state: pl.DataFrame, rows: pl.DataFrame, config: JourneyConfig,
                run: RunStamp, name: str) -> Decision:
    """Checks the file against today's state and decides its moves (nothing if any is bad)."""
    check_streaks(rows, config, name)
    check_users(rows, state["user_id"], name)
    return decide(state, manual_requests(rows), config, run)
