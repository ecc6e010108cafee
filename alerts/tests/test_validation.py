"""The alert rules, pure: values in, errors by field out (no database: the current GTFS
version's ids are given as ``ScheduleRefs``)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from alerts.validation import (
    ENTITY_NAMES_NOTHING,
    PERIOD_ENDS_BEFORE_START,
    PERIOD_WITHOUT_BOUNDS,
    ScheduleRefs,
    TripRef,
    alert_problems,
)
from alerts.values import EFFECTS, ActivePeriod, AlertInput, InformedEntity, Translation

DAY = dt.date(2026, 12, 7)
REFS = ScheduleRefs(
    feed_id=3,
    agencies=frozenset({"A1"}),
    routes={"R1": 3},
    stops=frozenset({"S1", "S2"}),
    trips={"T1": TripRef("R1", "WK")},
    services={DAY: frozenset({"WK"}), DAY + dt.timedelta(days=5): frozenset()},
)
NOW = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
TEN_LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "nl", "sv", "da", "fi")
GOOD = AlertInput(
    header=(Translation("", "Detour"), Translation("es", "Desvío")),
    informed_entities=(InformedEntity(route_id="R1", direction_id=1), InformedEntity(stop_id="S2")),
    active_periods=(ActivePeriod(NOW, NOW + dt.timedelta(hours=2)),),
    url=(Translation("", "https://example.org/detour"),),
    effect="DETOUR",
)


def entity(**fields) -> AlertInput:
    return dataclasses.replace(
        GOOD, informed_entities=(InformedEntity(stop_id="S1"), InformedEntity(**fields))
    )


def test_a_good_alert_has_no_problems():
    assert alert_problems(GOOD, REFS) == {}
    assert alert_problems(entity(trip_id="T1", route_id="R1", trip_start_date=DAY), REFS) == {}
    assert alert_problems(entity(agency_id="A1", route_type=3), REFS) == {}


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"stop_id": "X"}, {"stop_id": ["unknown stop 'X' in GTFS version 3"]}),
        ({"route_id": "R9"}, {"route_id": ["unknown route 'R9' in GTFS version 3"]}),
        ({"agency_id": "B"}, {"agency_id": ["unknown agency 'B' in GTFS version 3"]}),
        ({"trip_id": "T9"}, {"trip_id": ["unknown trip 'T9' in GTFS version 3"]}),
        (
            {"route_id": "R1", "route_type": 0},
            {"route_type": ["route 'R1' has route_type 3, not 0 (in GTFS version 3)"]},
        ),
        ({"route_type": 99}, {"route_type": ["99 is not a GTFS route type (routes.txt)"]}),
        (
            {"trip_id": "T1", "trip_start_date": DAY + dt.timedelta(days=5)},
            {"trip_start_date": ["trip 'T1' does not run on 2026-12-12 (in GTFS version 3)"]},
        ),
        ({"stop_id": "S1", "trip_start_date": DAY}, {"trip_start_date": ["needs a trip_id"]}),
        (
            {"direction_id": 0},
            {
                "non_field_errors": [ENTITY_NAMES_NOTHING],
                "direction_id": ["needs a route_id (GTFS-RT: a direction of a route)"],
            },
        ),
        ({}, {"non_field_errors": [ENTITY_NAMES_NOTHING]}),
        ({"stop_id": "S" * 256}, {"stop_id": ["at most 255 characters, not 256"]}),
    ],
)
def test_an_informed_entity_names_what_the_current_version_holds(fields, errors):
    assert alert_problems(entity(**fields), REFS) == {"informed_entities": [{}, errors]}


def test_a_trip_on_another_route_names_the_route():
    problems = alert_problems(
        entity(trip_id="T1", route_id="R2"),
        ScheduleRefs(3, routes={"R1": 3, "R2": 3}, trips={"T1": TripRef("R1", "WK")}),
    )
    assert problems == {
        "informed_entities": [
            {"stop_id": ["unknown stop 'S1' in GTFS version 3"]},
            {"route_id": ["trip 'T1' is on route 'R1', not 'R2' (in GTFS version 3)"]},
        ]
    }


def test_without_a_current_version_no_reference_holds():
    problems = alert_problems(GOOD, None)
    assert problems["informed_entities"][1] == {
        "stop_id": ["unknown stop 'S2': no GTFS version is current"]
    }
    assert (
        alert_problems(
            dataclasses.replace(GOOD, informed_entities=(InformedEntity(route_type=3),)), None
        )
        == {}
    )


@pytest.mark.parametrize(
    ("periods", "errors"),
    [
        ([ActivePeriod(NOW, NOW)], [{"end": [PERIOD_ENDS_BEFORE_START]}]),
        ([ActivePeriod()], [{"non_field_errors": [PERIOD_WITHOUT_BOUNDS]}]),
        (
            [ActivePeriod(dt.datetime(2026, 12, 2, 8, 0))],
            [{"start": ["give a time zone (e.g. 2026-12-01T08:00:00Z)"]}],
        ),
        (
            [ActivePeriod(None, dt.datetime(1969, 12, 31, tzinfo=dt.UTC))],
            [{"end": ["may not be before 1970-01-01T00:00:00Z"]}],
        ),
        ([ActivePeriod(NOW)] * 21, ["at most 20 active periods, not 21"]),
    ],
)
def test_an_active_period_makes_sense(periods, errors):
    assert alert_problems(dataclasses.replace(GOOD, active_periods=periods), REFS) == {
        "active_periods": errors
    }


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"header": ()}, {"header": ["give the header in at least one language"]}),
        ({"header": (Translation("", "   "),)}, {"header": [{"text": ["may not be blank"]}]}),
        (
            {"header": (Translation("", "x" * 201),)},
            {"header": [{"text": ["at most 200 characters, not 201"]}]},
        ),
        (
            {"header": (Translation("en", "a"), Translation("en", "b"))},
            {"header": [{}, {"language": ["'en' is given twice for the header"]}]},
        ),
        (
            {"header": (Translation("english please", "a"),)},
            {
                "header": [
                    {
                        "language": [
                            "'english please' is not a BCP-47 language tag (e.g. en, es-419); "
                            "blank: default"
                        ]
                    }
                ]
            },
        ),
        (
            {"url": (Translation("", "javascript:alert(1)"),)},
            {"url": [{"text": ["must be an http or https URL"]}]},
        ),
        (
            {"url": (Translation("", "http://[::1"),)},
            {"url": [{"text": ["must be an http or https URL"]}]},
        ),
        (
            {"description": (Translation("", "a\x00b"),)},
            {"description": [{"text": ["may not contain a NUL character"]}]},
        ),
        (
            {"effect": "SNOW"},
            {"effect": ["'SNOW' is not a GTFS-RT effect: one of " + ", ".join(EFFECTS)]},
        ),
        (
            {
                "header": tuple(Translation(tag, "h") for tag in TEN_LANGUAGES),
                "description": (Translation("no", "d"),),
                "url": (),
            },
            {"non_field_errors": ["at most 10 languages in all, not 11"]},
        ),
        (
            {"informed_entities": ()},
            {"informed_entities": ["name at least one agency, route, route type, stop or trip"]},
        ),
    ],
)
def test_texts_and_enums_are_bounded(change, errors):
    assert alert_problems(dataclasses.replace(GOOD, **change), REFS) == errors
