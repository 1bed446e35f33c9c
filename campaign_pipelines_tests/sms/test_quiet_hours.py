"""The sending window: across 21:00, across midnight, and through DST changes."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.quiet_hours import QuietHours, quiet_hours

ALMATY = timezone(timedelta(hours=5))  # Asia/Almaty since 2024-03-01


def at(hour: int, minute: int = 0, second: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=ALMATY)


def test_the_default_window_is_9_to_21_in_almaty():
    window = quiet_hours()
    assert window == QuietHours()
    assert not window.is_open(at(8, 59, 59))
    assert window.is_open(at(9))
    assert window.is_open(at(20, 59, 59))
    assert not window.is_open(at(21))  # the window is [09:00, 21:00)
    assert window.is_open(datetime(2026, 12, 1, 15, 59, tzinfo=UTC))  # 20:59 in Almaty


def test_a_run_reaching_21_00_waits_for_the_next_morning():
    window = quiet_hours()
    assert window.closes_after(at(20, 59)) == at(21)
    assert window.next_opening(at(20, 59)) == at(20, 59)  # open: now
    assert window.next_opening(at(21)) == at(9, day=2)
    assert window.next_opening(at(23, 59)) == at(9, day=2)
    assert window.next_opening(at(0, 0, day=2)) == at(9, day=2)  # past midnight: same morning
    assert window.next_opening(at(8, 59, 59)) == at(9)
    assert window.next_opening(at(21)).tzinfo == UTC
    with pytest.raises(ValueError, match="not open"):
        window.closes_after(at(22))


def test_a_window_across_midnight():
    night = quiet_hours("22:00-06:00")
    assert night.crosses_midnight
    assert night.is_open(at(23, 59)) and night.is_open(at(0, 0, day=2))
    assert night.is_open(at(5, 59, 59)) and not night.is_open(at(6))
    assert not night.is_open(at(21, 59))
    assert night.closes_after(at(23)) == at(6, day=2)
    assert night.closes_after(at(1, day=2)) == at(6, day=2)
    assert night.next_opening(at(6)) == at(22)


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        quiet_hours().is_open(datetime(2026, 12, 1, 10, 0))


def test_a_spring_forward_gap_opens_at_the_jump():
    berlin = quiet_hours("02:30-21:00", "Europe/Berlin")  # 2026-03-29 02:00 → 03:00
    opening = berlin.next_opening(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    assert opening == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert berlin.is_open(opening) and not berlin.is_open(opening - timedelta(microseconds=1))


def test_a_fall_back_overlap_opens_at_its_first_occurrence():
    berlin = quiet_hours("02:30-21:00", "Europe/Berlin")  # 2026-10-25 03:00 → 02:00
    opening = berlin.next_opening(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    assert opening == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first


def test_the_window_follows_a_zones_offset_change():
    almaty = quiet_hours()  # +06 until 2024-03-01 00:00, +05 after
    assert almaty.next_opening(datetime(2024, 2, 29, 16, 0, tzinfo=UTC)) == datetime(
        2024, 3, 1, 4, 0, tzinfo=UTC)
    assert almaty.zone == ZoneInfo("Asia/Almaty")


@pytest.mark.parametrize("window", ["9:00-21:00", "09:00-09:00", "24:00-06:00", "nine to nine"])
def test_bad_windows_name_the_setting(window):
    with pytest.raises(ProblemsError, match="SMS_SENDING_WINDOW: "):
        quiet_hours(window)


def test_a_bad_zone_names_its_setting():
    with pytest.raises(ProblemsError, match="SMS_SENDING_WINDOW_ZONE: no time zone"):
        quiet_hours(zone="Mars/Olympus")
    with pytest.raises(ValueError):
        QuietHours(opens=datetime(2026, 1, 1, 9).time(), closes=datetime(2026, 1, 1, 9).time())
