"""Block propagation: the next trip of a block starts late by the end delay minus the layover."""

import datetime as dt

from schedule_engine.predictions.block_propagation import (
    BlockStopTime,
    NextBlockTrip,
    end_of_trip_delay_s,
    propagated_delay_s,
    propagated_stop_times,
)
from schedule_engine.predictions.predictor import PredictionConfig

ORIGIN = 1_795_420_800.0  # 2026-11-23 00:00 America/Los_Angeles (PST), the day's origin
# The trip before ends at 08:10:00; the next leaves at 08:16:00 (6 min layover), three stops.
NEXT = NextBlockTrip(
    trip_id="B2",
    route_id="R1",
    direction_id=1,
    block_id="BK",
    service_date=dt.date(2026, 11, 23),
    start_time="08:16:00",
    first_departure_s=8 * 3600 + 16 * 60,
    previous_last_arrival_s=8 * 3600 + 10 * 60,
    layover_s=360,
    stop_times=(
        BlockStopTime(1, "S4", 29_760, 29_760),
        BlockStopTime(2, "S3", 30_000, 30_030),
        BlockStopTime(3, "S1", 30_300, 30_300),
    ),
)


def test_late_bus_next_trip_is_late_by_the_delay_minus_the_layover():
    out = propagated_stop_times(600, NEXT, ORIGIN, now=ORIGIN + 29_000)
    assert [p.stop_sequence for p in out] == [1, 2, 3]
    assert [p.stop_id for p in out] == ["S4", "S3", "S1"]
    # 600 s late at the end, 360 s of layover: 240 s late at every stop.
    assert [p.arrival - ORIGIN for p in out] == [30_000, 30_240, 30_540]
    assert [p.departure - ORIGIN for p in out] == [30_000, 30_270, 30_540]
    assert not any(p.observed for p in out)


def test_delay_the_layover_absorbs_leaves_the_schedule():
    out = propagated_stop_times(300, NEXT, ORIGIN, now=ORIGIN + 29_000)
    assert [p.arrival - ORIGIN for p in out] == [29_760, 30_000, 30_300]


def test_early_bus_does_not_make_the_next_trip_early():
    out = propagated_stop_times(-240, NEXT, ORIGIN, now=ORIGIN + 29_000)
    assert [p.departure - ORIGIN for p in out] == [29_760, 30_030, 30_300]
    assert propagated_delay_s(-240, 360) == 0.0
    assert propagated_delay_s(400, 0) == 400.0


def test_end_of_trip_delay_is_the_predicted_minus_the_scheduled_last_arrival():
    scheduled_end = ORIGIN + 8 * 3600 + 10 * 60
    assert end_of_trip_delay_s(scheduled_end + 95, NEXT, ORIGIN) == 95
    assert end_of_trip_delay_s(scheduled_end - 30, NEXT, ORIGIN) == -30


def test_stops_at_one_scheduled_second_still_get_increasing_times():
    same_second = NextBlockTrip(
        **{
            **{f: getattr(NEXT, f) for f in NextBlockTrip.__slots__},
            "stop_times": (
                BlockStopTime(1, "S4", 29_760, 29_760),
                BlockStopTime(2, "S3", 29_760, 29_760),
                BlockStopTime(5, "S1", 29_760, 29_760),
            ),
        }
    )
    out = propagated_stop_times(0, same_second, ORIGIN, now=ORIGIN)
    times = [t for p in out for t in (p.arrival, p.departure)]
    assert [p.arrival - ORIGIN for p in out] == [29_760, 29_761, 29_762]
    assert times == sorted(times)


def test_uncertainty_grows_with_the_horizon_like_the_predictor():
    config = PredictionConfig(uncertainty_base_s=30, uncertainty_per_minute_s=6)
    now = ORIGIN + 30_000 - 600  # ten minutes before the (late) first stop
    out = propagated_stop_times(600, NEXT, ORIGIN, now=now, config=config)
    assert out[0].uncertainty_s == 30 + 6 * 10
    assert out[2].uncertainty_s == 30 + 6 * 19
    past = propagated_stop_times(600, NEXT, ORIGIN, now=ORIGIN + 40_000, config=config)
    assert {p.uncertainty_s for p in past} == {30}
