"""The rules a service alert must meet, as pure functions: values in, errors by field out.

``alert_problems(alert, refs)`` checks a whole ``AlertInput``: the GTFS-RT enum names, the
texts (a header in some language; at most ``MAX_LANGUAGES`` languages, each once per text;
lengths; http(s) URLs), the active periods (each open on one side at most, its end after its
start) and the informed entities (at least one thing named in each; ``direction_id`` only
with a route, ``trip_start_date`` only with a trip; a GTFS route type), and every route,
stop, trip and agency they name against ``refs``, the *current* GTFS version's ids as read
by ``schedule_refs``. The parts (``translations_problems``, ``periods_problems``,
``entities_problems``) are what the admin's inline forms call, one each, so both paths
apply the same rules.

Errors read like DRF's: ``{"informed_entities": [{}, {"stop_id": ["unknown stop 'X' in
GTFS version 3"]}]}`` (one entry per item, ``{}`` for a good one), or ``{"header": ["..."]}``
for the list as a whole. An empty result means valid.

Pure: imports only the standard library and ``alerts.values``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alerts.values import (
    CAUSES,
    EFFECTS,
    SEVERITIES,
    ActivePeriod,
    AlertInput,
    InformedEntity,
    TextField,
    Translation,
)

MAX_PERIODS = 20
MAX_ENTITIES = 100
MAX_LANGUAGES = 10
TEXT_MAX_LENGTH: Mapping[TextField, int] = {
    TextField.HEADER: 200,
    TextField.DESCRIPTION: 4000,
    TextField.URL: 500,
}
ID_MAX_LENGTH = 255  # a GTFS id, as runs keep them
LANGUAGE_MAX_LENGTH = 35  # BCP-47's longest well-formed tags in practice (RFC 5646, 4.4.1)
# A well-formed tag's shape (language, then subtags), not the registry: "en", "es-419",
# "zh-Hant-TW", "x-klingon". Also the API's pattern (JSON Schema and Python agree on it).
LANGUAGE_TAG_PATTERN = r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$"
_LANGUAGE_TAG = re.compile(LANGUAGE_TAG_PATTERN)
URL_SCHEMES = ("http", "https")
# GTFS-RT times are unsigned POSIX seconds.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# routes.txt route_type: the basic types and the extended (Hierarchical Vehicle Type) ones.
ROUTE_TYPES: frozenset[int] = frozenset(
    {
        *(0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 800, 1000, 1100, 1200, 1300, 1400),
        *range(100, 118),
        *range(200, 210),
        *range(400, 406),
        *range(700, 717),
        *range(900, 907),
        *range(1500, 1508),
        *range(1700, 1703),
    }
)
ROUTE_TYPE_MAX = max(ROUTE_TYPES)

# Also the messages of the database constraints that hold the same rules (alerts.models).
PERIOD_WITHOUT_BOUNDS = "give a start, an end or both (no period at all: always)"
PERIOD_ENDS_BEFORE_START = "the end must be after the start"
ENTITY_NAMES_NOTHING = "give an agency_id, route_id, route_type, stop_id or trip_id"

Errors = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TripRef:
    route_id: str
    service_id: str


@dataclass(frozen=True, slots=True)
class ScheduleRefs:
    """What the current GTFS version holds of the ids an alert names (only those are read).

    ``services``: the services running on each ``trip_start_date`` named.
    """

    feed_id: int
    agencies: frozenset[str] = frozenset()
    routes: Mapping[str, int] = field(default_factory=dict)  # route_id → route_type
    stops: frozenset[str] = frozenset()
    trips: Mapping[str, TripRef] = field(default_factory=dict)
    services: Mapping[dt.date, frozenset[str]] = field(default_factory=dict)


def alert_problems(alert: AlertInput, refs: ScheduleRefs | None) -> Errors:
    """Every problem of ``alert`` by field; ``refs`` None: no GTFS version is current."""
    errors: Errors = {}
    for name, value, choices in (
        ("cause", alert.cause, CAUSES),
        ("effect", alert.effect, EFFECTS),
        ("severity", alert.severity, SEVERITIES),
    ):
        if value not in choices:
            errors[name] = [f"'{value}' is not a GTFS-RT {name}: one of {', '.join(choices)}"]
    for text_field in TextField:
        problems = translations_problems(text_field, alert.texts(text_field))
        if problems:
            errors[text_field.value] = problems
    problems = languages_problems([t for f in TextField for t in alert.texts(f)])
    if problems:
        errors["non_field_errors"] = problems
    problems = periods_problems(alert.active_periods)
    if problems:
        errors["active_periods"] = problems
    problems = entities_problems(alert.informed_entities, refs)
    if problems:
        errors["informed_entities"] = problems
    return errors


def languages_problems(translations: Sequence[Translation]) -> list[str]:
    """All the texts together are in at most ``MAX_LANGUAGES`` languages."""
    languages = {translation.language for translation in translations}
    if len(languages) > MAX_LANGUAGES:
        return [f"at most {MAX_LANGUAGES} languages in all, not {len(languages)}"]
    return []


def translations_problems(text_field: TextField, translations: Sequence[Translation]) -> list:
    """A text's problems: messages for the whole list, else one dict per translation."""
    if text_field is TextField.HEADER and not translations:
        return ["give the header in at least one language"]
    if len(translations) > MAX_LANGUAGES:
        return [f"at most {MAX_LANGUAGES} translations, not {len(translations)}"]
    seen: set[str] = set()
    items = []
    for translation in translations:
        item: Errors = {}
        language = _language_problem(translation.language)
        if language is None and translation.language in seen:
            language = f"'{translation.language}' is given twice for the {text_field.value}"
        seen.add(translation.language)
        if language is not None:
            item["language"] = [language]
        text = _text_problem(text_field, translation.text)
        if text is not None:
            item["text"] = [text]
        items.append(item)
    return items if any(items) else []


def _language_problem(language: str) -> str | None:
    if language == "":
        return None
    if len(language) > LANGUAGE_MAX_LENGTH or not _LANGUAGE_TAG.match(language):
        return f"'{language[:40]}' is not a BCP-47 language tag (e.g. en, es-419); blank: default"
    return None


def _text_problem(text_field: TextField, text: str) -> str | None:
    limit = TEXT_MAX_LENGTH[text_field]
    if not text.strip():
        return "may not be blank"
    if len(text) > limit:
        return f"at most {limit} characters, not {len(text)}"
    if "\x00" in text:
        return "may not contain a NUL character"
    if text_field is TextField.URL and not _is_web_url(text):
        return "must be an http or https URL"
    return None


def _is_web_url(text: str) -> bool:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme.lower() in URL_SCHEMES and bool(parts.hostname)


def periods_problems(periods: Sequence[ActivePeriod]) -> list:
    """The active periods' problems: a message for the list, else one dict per period."""
    if len(periods) > MAX_PERIODS:
        return [f"at most {MAX_PERIODS} active periods, not {len(periods)}"]
    items = [_period_problems(period) for period in periods]
    return items if any(items) else []


def _period_problems(period: ActivePeriod) -> Errors:
    item: Errors = {}
    if period.start is None and period.end is None:
        return {"non_field_errors": [PERIOD_WITHOUT_BOUNDS]}
    for name, value in (("start", period.start), ("end", period.end)):
        if value is None:
            continue
        if value.tzinfo is None or value.utcoffset() is None:
            item[name] = ["give a time zone (e.g. 2026-12-01T08:00:00Z)"]
        elif value < EARLIEST:
            item[name] = ["may not be before 1970-01-01T00:00:00Z"]
    bounded = not item and period.start is not None and period.end is not None
    if bounded and period.end <= period.start:
        item["end"] = [PERIOD_ENDS_BEFORE_START]
    return item


def entities_problems(entities: Sequence[InformedEntity], refs: ScheduleRefs | None) -> list:
    """The informed entities' problems: a message for the list, else one dict per entity."""
    if not entities:
        return ["name at least one agency, route, route type, stop or trip"]
    if len(entities) > MAX_ENTITIES:
        return [f"at most {MAX_ENTITIES} informed entities, not {len(entities)}"]
    items = [_entity_problems(entity, refs) for entity in entities]
    return items if any(items) else []


def _entity_problems(entity: InformedEntity, refs: ScheduleRefs | None) -> Errors:
    item: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        item.setdefault(name, []).append(message)

    named = (entity.agency_id, entity.route_id, entity.stop_id, entity.trip_id)
    if not any(named) and entity.route_type is None:
        add("non_field_errors", ENTITY_NAMES_NOTHING)
    for name in ("agency_id", "route_id", "stop_id", "trip_id"):
        value = getattr(entity, name)
        if len(value) > ID_MAX_LENGTH:
            add(name, f"at most {ID_MAX_LENGTH} characters, not {len(value)}")
        elif "\x00" in value:
            add(name, "may not contain a NUL character")
    if entity.route_type is not None and entity.route_type not in ROUTE_TYPES:
        add("route_type", f"{entity.route_type} is not a GTFS route type (routes.txt)")
    if entity.direction_id is not None:
        if entity.direction_id not in (0, 1):
            add("direction_id", "must be 0 or 1")
        elif not entity.route_id:
            add("direction_id", "needs a route_id (GTFS-RT: a direction of a route)")
    if entity.trip_start_date is not None and not entity.trip_id:
        add("trip_start_date", "needs a trip_id")
    if item:
        return item
    return _reference_problems(entity, refs)


def _reference_problems(entity: InformedEntity, refs: ScheduleRefs | None) -> Errors:
    """What ``entity`` names that the current GTFS version does not hold (or contradicts)."""
    if refs is None:
        where = "no GTFS version is current"
        return {
            name: [f"unknown {name.removesuffix('_id')} '{value}': {where}"]
            for name in ("agency_id", "route_id", "stop_id", "trip_id")
            if (value := getattr(entity, name))
        }
    where = f"in GTFS version {refs.feed_id}"
    item: Errors = {}
    if entity.agency_id and entity.agency_id not in refs.agencies:
        item["agency_id"] = [f"unknown agency '{entity.agency_id}' {where}"]
    if entity.stop_id and entity.stop_id not in refs.stops:
        item["stop_id"] = [f"unknown stop '{entity.stop_id}' {where}"]
    if entity.route_id:
        route_type = refs.routes.get(entity.route_id)
        if route_type is None:
            item["route_id"] = [f"unknown route '{entity.route_id}' {where}"]
        elif entity.route_type is not None and entity.route_type != route_type:
            item["route_type"] = [
                f"route '{entity.route_id}' has route_type {route_type}, "
                f"not {entity.route_type} ({where})"
            ]
    if entity.trip_id:
        trip = refs.trips.get(entity.trip_id)
        if trip is None:
            item["trip_id"] = [f"unknown trip '{entity.trip_id}' {where}"]
        elif entity.route_id and trip.route_id != entity.route_id and "route_id" not in item:
            item["route_id"] = [
                f"trip '{entity.trip_id}' is on route '{trip.route_id}', "
                f"not '{entity.route_id}' ({where})"
            ]
        elif entity.trip_start_date is not None and trip.service_id not in refs.services.get(
            entity.trip_start_date, frozenset()
        ):
            item["trip_start_date"] = [
                f"trip '{entity.trip_id}' does not run on "
                f"{entity.trip_start_date.isoformat()} ({where})"
            ]
    return item
