"""Small worlds with known answers for the outcome tests, drawn with numpy's default_rng so
every run sees the same users and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

START, END = date(2026, 11, 2), date(2026, 11, 15)
ACTION = "loan_opened"


@dataclass(frozen=True)
class World:
    target: pl.DataFrame
    control: pl.DataFrame
    events: pl.DataFrame


def iins(count: int, first: int = 100_000_000_000) -> pl.Series:
    return pl.Series("iin", np.arange(first, first + count)).cast(pl.String)


def world(users: int, target_rate: float, control_rate: float, control_share: float,
          seed: int = 13, noise_per_user: int = 0) -> World:
    """``users`` split at ``control_share`` (exactly, by position); each member converts at
    their group's rate on a day drawn in the period; ``noise_per_user`` other events per user
    (other actions, or the action outside the period) that must not count."""
    rng = np.random.default_rng(seed)
    people = iins(users)
    in_control = np.arange(users) < round(users * control_share)
    rate = np.where(in_control, control_rate, target_rate)
    converts = rng.random(users) < rate
    days = rng.integers(0, (END - START).days + 1, users)
    conversions = pl.DataFrame({
        "iin": people.filter(converts), "event": ACTION,
        "event_date": dates(days[converts]),
    })
    frames = [conversions]
    if noise_per_user:
        frames.append(noise(rng, people, noise_per_user))
    events = pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)
    return World(target=people.filter(~in_control).to_frame(),
                 control=people.filter(in_control).to_frame(), events=events)


def noise(rng: np.random.Generator, people: pl.Series, per_user: int) -> pl.DataFrame:
    """Events that never count: other actions in the period, or the action well before it."""
    count = len(people) * per_user
    who = rng.integers(0, len(people), count)
    before = rng.random(count) < 0.2
    offset = np.where(before, rng.integers(-90, -1, count), rng.integers(0, 14, count))
    return pl.DataFrame({
        "iin": people.gather(who),
        "event": np.where(before, ACTION, np.array(["app_login", "card_payment"])[who % 2]),
        "event_date": dates(offset),
    })


def dates(offsets: np.ndarray) -> pl.Series:
    """START plus each offset in days, as polars dates."""
    epoch_days = offsets + (START - date(1970, 1, 1)).days
    return pl.Series(epoch_days, dtype=pl.Int32).cast(pl.Date)
