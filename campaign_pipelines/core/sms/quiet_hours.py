"""When a recipient may be texted: a daily window of wall-clock time in a time zone
(default 09:00–21:00, Asia/Almaty), outside of which nothing is sent.

Decisions:
- The window is [opens, closes): a message at 21:00:00 is outside, one at 09:00:00 inside.
- A window may cross midnight (``22:00-06:00``); ``opens == closes`` is refused as ambiguous
  (always or never?).
- Times are compared on the recipient's wall clock (zoneinfo; tzdata is a dependency), so the
  window follows the zone's offset changes (Almaty moved from +06 to +05 on 2024-03-01), and
  DST where a zone has it: an opening that falls in a spring-forward gap opens at the jump
  (the first instant whose wall clock reads that time or later, as ``is_open`` says); in a
  fall-back overlap, at its first occurrence.
- Every moment must carry its UTC offset; a naive one is a ValueError, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaign_pipelines.core.problems import ProblemsError

DEFAULT_WINDOW = "09:00-21:00"
DEFAULT_ZONE = "Asia/Almaty"
_CLOCK = r"([01][0-9]|2[0-3]):([0-5][0-9])"
_WINDOW = re.compile(rf"^\s*{_CLOCK}\s*-\s*{_CLOCK}\s*$")


@dataclass(frozen=True)
class QuietHours:
    opens: time = time(9, 0)
    closes: time = time(21, 0)
    zone: ZoneInfo = ZoneInfo(DEFAULT_ZONE)

    def __post_init__(self) -> None:
        if self.opens == self.closes:
            raise ValueError("the sending window opens and closes at the same time")

    @property
    def crosses_midnight(self) -> bool:
        return self.closes < self.opens

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("the moment must carry its UTC offset")
        return moment.astimezone(self.zone)

    def is_open(self, moment: datetime) -> bool:
        """Whether a message may be sent at ``moment``."""
        clock = self._local(moment).time()
        if self.crosses_midnight:
            return clock >= self.opens or clock < self.closes
        return self.opens <= clock < self.closes

    def _at(self, day: date, clock: time) -> datetime:
        """The first instant of ``day`` at which the wall clock reads ``clock`` or later."""
        local = datetime.combine(day, clock, tzinfo=self.zone)
        first, second = local.astimezone(UTC), local.replace(fold=1).astimezone(UTC)
        if second >= first:  # an ordinary time, or an overlap: its first occurrence
            return first
        # In a gap: ``second`` reads before ``clock``, ``first`` after it; the jump is between.
        while first - second > timedelta(microseconds=1):
            middle = second + (first - second) / 2
            wall = middle.astimezone(self.zone).replace(tzinfo=None)
            if wall >= datetime.combine(day, clock):
                first = middle
            else:
                second = middle
        return first

    def next_opening(self, moment: datetime) -> datetime:
        """``moment`` itself (in UTC) when the window is open, else when it next opens."""
        if self.is_open(moment):
            return moment.astimezone(UTC)
        day = self._local(moment).date()
        for offset in range(3):  # today's opening, else tomorrow's (a gap may skip a day)
            opening = self._at(day + timedelta(days=offset), self.opens)
            if opening > moment:
                return opening
        raise AssertionError("no opening within three days")  # pragma: no cover

    def closes_after(self, moment: datetime) -> datetime:
        """When the window open at ``moment`` closes (UTC); ValueError if it is not open."""
        if not self.is_open(moment):
            raise ValueError("the window is not open at that moment")
        day = self._local(moment).date()
        for offset in range(3):
            closing = self._at(day + timedelta(days=offset), self.closes)
            if closing > moment:
                return closing
        raise AssertionError("no closing within three days")  # pragma: no cover


def quiet_hours(window: str = DEFAULT_WINDOW, zone: str = DEFAULT_ZONE,
                field: str = "SMS_SENDING_WINDOW") -> QuietHours:
    """The window from its settings text (``HH:MM-HH:MM``) and zone name, or ProblemsError
    naming the setting (``field``; the zone's is ``field`` + ``_ZONE``)."""
    match = _WINDOW.match(window)
    if match is None or match.groups()[:2] == match.groups()[2:]:
        raise ProblemsError([{"field": field, "problem": f"{window!r} is not a window of two "
                              "different times", "fix": "write it as HH:MM-HH:MM, e.g. "
                              f"{DEFAULT_WINDOW}"}])
    try:
        tz = ZoneInfo(zone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ProblemsError([{"field": f"{field}_ZONE", "problem": f"no time zone {zone!r}",
                              "fix": f"use an IANA zone name, e.g. {DEFAULT_ZONE}"}]) from None
    hours = [int(part) for part in match.groups()]
    return QuietHours(time(hours[0], hours[1]), time(hours[2], hours[3]), tz)
