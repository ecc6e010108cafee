"""Service days as pure functions: calendars with exceptions, the noon-minus-12h origin,
times after midnight and frequency expansion."""

import datetime as dt
from zoneinfo import ZoneInfo

from schedule_engine.scheduled import ScheduledTrip, TripStopTime
from schedule_engine.service_days import (
    CalendarRule,
    FrequencyWindow,
    active_service_ids,
    frequency_starts,
    service_day_origin,
    trip_instances,
)

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = (True, True, True, True, True, False, False)
RULES = [
    CalendarRule("WK", WEEKDAYS, dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
    CalendarRule("SU", (False,) * 6 + (True,), dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
]


def test_calendar_gives_weekday_service_within_its_dates():
    assert active_service_ids(dt.date(2026, 2, 17), RULES, []) == {"WK"}
    assert active_service_ids(dt.date(2026, 2, 15), RULES, []) == {"SU"}
    assert active_service_ids(dt.date(2026, 7, 1), RULES, []) == set()


def test_calendar_dates_remove_and_add_services_on_a_holiday():
    holiday = [("WK", 2), ("SU", 1)]
    assert active_service_ids(dt.date(2026, 2, 16), RULES, holiday) == {"SU"}
    assert active_service_ids(dt.date(2026, 8, 1), RULES, [("EXTRA", 1)]) == {"EXTRA"}


def test_origin_is_midnight_on_ordinary_days_and_noon_minus_12h_on_dst_days():
    ordinary = service_day_origin(dt.date(2026, 2, 16), NEW_YORK)
    assert ordinary.astimezone(NEW_YORK) == dt.datetime(2026, 2, 16, 0, 0, tzinfo=NEW_YORK)
    # 8 March 2026: clocks go forward at 02:00; noon is EDT, so the origin is 23:00 EST the eve.
    spring = service_day_origin(dt.date(2026, 3, 8), NEW_YORK)
    assert spring == dt.datetime(2026, 3, 8, 4, 0, tzinfo=dt.UTC)
    assert spring + dt.timedelta(hours=12) == dt.datetime(2026, 3, 8, 12, tzinfo=NEW_YORK)


def test_frequency_windows_give_starts_before_their_end():
    windows = [FrequencyWindow(21600, 25200, 1200, True), FrequencyWindow(36000, 36001, 600, True)]
    assert frequency_starts(windows) == [(21600, True), (22800, True), (24000, True), (36000, True)]


def _trip(stops):
    return ScheduledTrip("T", "R", 0, "SH", "WK", "24:50:00", 1, tuple(stops))


def test_times_after_24h_fall_on_the_next_calendar_morning():
    trip = _trip(
        [
            TripStopTime(1, "A", 89400, 89400, True, 0.0),
            TripStopTime(2, "B", 90600, 90600, True, 900.0),
        ]
    )
    (instance,) = trip_instances(
        trip=trip,
        first_departure_s=89400,
        last_arrival_s=90600,
        service_date=dt.date(2026, 2, 13),
        tz=NEW_YORK,
    )
    assert instance.service_date == dt.date(2026, 2, 13)
    assert instance.first_departure == dt.datetime(2026, 2, 14, 0, 50, tzinfo=NEW_YORK)
    assert instance.stop_times[-1].arrival == dt.datetime(2026, 2, 14, 1, 10, tzinfo=NEW_YORK)
    assert instance.start_time == "24:50:00"
    assert not instance.frequency_based


def test_frequency_trip_instances_shift_every_stop_by_the_start():
    trip = _trip([TripStopTime(1, "A", 0, 0, True, 0.0), TripStopTime(2, "B", 300, 330, True, 9.0)])
    instances = trip_instances(
        trip=trip,
        first_departure_s=0,
        last_arrival_s=300,
        service_date=dt.date(2026, 2, 13),
        tz=NEW_YORK,
        frequencies=[FrequencyWindow(86400, 88200, 900, False)],
    )
    assert [i.start_time for i in instances] == ["24:00:00", "24:15:00"]
    second = instances[1]
    assert second.frequency_based and not second.exact_times
    assert second.stop_times[1].arrival == dt.datetime(2026, 2, 14, 0, 20, tzinfo=NEW_YORK)
    assert second.stop_times[1].departure == dt.datetime(2026, 2, 14, 0, 20, 30, tzinfo=NEW_YORK)
    assert second.last_arrival == dt.datetime(2026, 2, 14, 0, 20, tzinfo=NEW_YORK)
