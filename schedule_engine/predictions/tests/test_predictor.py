"""Predictions: deviation propagated, held at timepoints, refined by history, observed kept."""

import pytest

from schedule_engine.predictions.inputs import schedule_deviation_s
from schedule_engine.predictions.predictor import (
    ObservedStop,
    PredictionConfig,
    RunScheduledStop,
    predict_stop_times,
)

T0 = 1_771_257_600.0
# Stops every 120 s of schedule; stop_sequence from 2 with gaps; a timepoint at the 4th stop.
SCHEDULE = [
    RunScheduledStop(2 + 3 * i, f"S{i}", T0 + 120 * i, T0 + 120 * i, timepoint=(i == 3))
    for i in range(6)
]


def test_late_bus_delay_propagates_and_past_stops_keep_observed_times():
    observed = {2: ObservedStop(T0 + 100, T0 + 130), 5: ObservedStop(T0 + 250, T0 + 260)}
    out = predict_stop_times(SCHEDULE, next_index=2, now=T0 + 300, delay_s=180, observed=observed)
    assert [p.stop_sequence for p in out] == [2, 5, 8, 11, 14, 17]
    assert [(p.arrival, p.observed) for p in out[:2]] == [(T0 + 100, True), (T0 + 250, True)]
    assert [p.arrival - T0 for p in out[2:]] == [420, 540, 660, 780]
    times = [t for p in out for t in (p.arrival, p.departure)]
    assert all(b > a for a, b in zip(times[1::2], times[2::2], strict=False))


def test_early_bus_recovers_at_the_timepoint_beyond_the_tolerated_earliness():
    out = predict_stop_times(SCHEDULE, next_index=1, now=T0 - 300, delay_s=-300)
    by_seq = {p.stop_sequence: p for p in out}
    assert by_seq[5].arrival == T0 - 180
    assert by_seq[11].arrival == T0 + 60
    assert by_seq[11].departure == T0 + 360 - 120  # waits until 2 min early at most
    assert by_seq[14].arrival == T0 + 480 - 120  # and runs on from there


def test_slightly_early_bus_does_not_wait():
    out = predict_stop_times(SCHEDULE, next_index=1, now=T0, delay_s=-60)
    assert {p.stop_sequence: p.departure for p in out}[11] == T0 + 300


def test_late_bus_recovers_in_a_layover():
    layover = [
        RunScheduledStop(2, "S0", T0, T0),
        RunScheduledStop(5, "S1", T0 + 120, T0 + 120),
        RunScheduledStop(8, "S2", T0 + 360, T0 + 600),  # a four-minute layover
        RunScheduledStop(11, "S3", T0 + 720, T0 + 720),
    ]
    out = predict_stop_times(layover, next_index=1, now=T0 + 200, delay_s=200)
    by_seq = {p.stop_sequence: p for p in out}
    assert (by_seq[8].arrival, by_seq[8].departure) == (T0 + 560, T0 + 600)
    assert by_seq[11].arrival == T0 + 720  # back on time after the layover


HISTORY = {("S1", "S2"): [200.0, 210.0, 220.0], ("S2", "S3"): [50.0]}


def test_history_of_the_same_segment_and_hour_replaces_the_schedule():
    out = predict_stop_times(SCHEDULE, next_index=1, now=T0, delay_s=0, history=HISTORY)
    by_seq = {p.stop_sequence: p for p in out}
    assert by_seq[8].arrival == T0 + 120 + 210  # the observed mean, not the schedule's 120 s
    assert by_seq[11].arrival == T0 + 120 + 210 + 50
    assert by_seq[14].arrival == T0 + 120 + 210 + 50 + 120  # no history: the schedule


def test_a_schedule_prior_pulls_thin_history_towards_the_schedule():
    config = PredictionConfig(schedule_prior_samples=1.0)
    out = predict_stop_times(
        SCHEDULE, next_index=1, now=T0, delay_s=0, history=HISTORY, config=config
    )
    by_seq = {p.stop_sequence: p for p in out}
    # Three samples (mean 210 s) and the schedule (120 s) counting as a fourth.
    assert by_seq[8].arrival == pytest.approx(T0 + 120 + 187.5, abs=1)
    # One sample: halfway between it and the schedule.
    assert by_seq[11].arrival == pytest.approx(T0 + 120 + 187.5 + (50 + 120) / 2, abs=1)


def test_uncertainty_grows_with_the_horizon():
    out = predict_stop_times(SCHEDULE, next_index=0, now=T0, delay_s=0)
    uncertainties = [p.uncertainty_s for p in out]
    assert uncertainties == sorted(uncertainties)
    assert uncertainties[-1] > uncertainties[0]


# A headway-based (exact_times=0) instance: its template has a 4-minute dwell at S2 and a
# timepoint at S3, which a timetabled trip would wait for. Stops 600 m apart.
HEADWAY_TEMPLATE = [
    RunScheduledStop(1, "S0", T0, T0),
    RunScheduledStop(2, "S1", T0 + 120, T0 + 120),
    RunScheduledStop(3, "S2", T0 + 240, T0 + 480),
    RunScheduledStop(4, "S3", T0 + 600, T0 + 600, timepoint=True),
    RunScheduledStop(5, "S4", T0 + 720, T0 + 720),
]
HEADWAY_DISTANCES = [0.0, 600.0, 1200.0, 1800.0, 2400.0]


def _shifted(stops, shift_s):
    return [
        RunScheduledStop(
            s.stop_sequence, s.stop_id, s.arrival + shift_s, s.departure + shift_s, s.timepoint
        )
        for s in stops
    ]


@pytest.mark.parametrize("shift_s", [-900, -300, 0, 240, 1800])
def test_headway_based_predictions_come_from_the_position_not_a_schedule(shift_s):
    # The same bus (300 m past S0 at T0 + 100, heading to S1): whichever nominal start its
    # instance has, late or early against it, the prediction is the same: running and
    # dwell times from the position, observed history where there is some.
    stops = _shifted(HEADWAY_TEMPLATE, shift_s)
    at = T0 + 100
    delay = schedule_deviation_s(stops, HEADWAY_DISTANCES, distance_m=300.0, at=at, departed=True)
    history = {("S1", "S2"): [150.0]}
    out = predict_stop_times(
        stops, next_index=1, now=at, delay_s=delay, history=history, headway_based=True
    )
    by_seq = {p.stop_sequence: (p.arrival - at, p.departure - at) for p in out}
    # 60 s to S1 at the template's pace, the observed 150 s to S2, its 240 s dwell, then the
    # template's 360 s arrival to arrival (dwell included) to S3 and 120 s to S4.
    assert by_seq == {2: (60, 60), 3: (210, 450), 4: (570, 570), 5: (690, 690)}


def test_headway_based_bus_ahead_of_its_nominal_start_is_not_held():
    # 10 minutes "early" against the nominal start: a timetabled trip would wait at the
    # S2 layover and the S3 timepoint; a headway-based one drives on.
    stops = _shifted(HEADWAY_TEMPLATE, 600)
    at = T0 + 100
    delay = schedule_deviation_s(stops, HEADWAY_DISTANCES, distance_m=300.0, at=at, departed=True)
    assert delay == -560
    timetabled = predict_stop_times(stops, next_index=1, now=at, delay_s=delay)
    headway = predict_stop_times(stops, next_index=1, now=at, delay_s=delay, headway_based=True)
    assert {p.stop_sequence: p.departure for p in timetabled}[3] == T0 + 600 + 480
    assert [p.arrival - at for p in headway] == [60, 180, 540, 660]
    assert [p.departure - at for p in headway] == [60, 420, 540, 660]
