"""An instance of a frequency-based trip is scheduled from its own start, not the template's."""

import datetime as dt
from zoneinfo import ZoneInfo

from realtime_engine.progression.scheduled_stops import scheduled_stops, start_shift_s
from realtime_engine.trip_schedules import TripSchedule
from schedule_engine.scheduled import ScheduledTrip, TripStopTime

# Only the template's start and stop times matter: the ids are given in field order, as
# schedule_engine's service-day tests do.
STOPS = (
    TripStopTime(1, "A", 6 * 3600, 6 * 3600, True, 0.0),
    TripStopTime(2, "B", 6 * 3600 + 300, 6 * 3600 + 300, False, 900.0),
)
TEMPLATE = ScheduledTrip("F1", "R9", 0, "SH9", "ALL", "06:00:00", 1, STOPS)
SCHEDULE = TripSchedule(TEMPLATE, ZoneInfo("America/Costa_Rica"))
DAY = dt.date(2026, 11, 23)


def test_the_instance_departing_at_14_20_is_shifted_from_the_06_00_template():
    shift = start_shift_s(SCHEDULE, "14:20:00")
    assert shift == (14 * 60 + 20 - 6 * 60) * 60
    stops = scheduled_stops(SCHEDULE, DAY, (1, 2), shift)
    departure = dt.datetime.fromtimestamp(stops[0].departure, ZoneInfo("America/Costa_Rica"))
    assert (departure.hour, departure.minute) == (14, 20)
    assert stops[1].arrival - stops[0].departure == 300


def test_an_ordinary_or_unreadable_start_time_shifts_nothing():
    assert start_shift_s(SCHEDULE, "06:00:00") == 0
    assert start_shift_s(SCHEDULE, None) == 0
    assert start_shift_s(SCHEDULE, "not a time") == 0
