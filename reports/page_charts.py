"""What a report page draws: charts and a table, from a report's flat rows. Pure.

A page gets a report value from its selector (``reports/selectors``) and hands it here;
the result goes into the page as JSON (Django's ``json_script``) and the static
``reports/report-charts.js`` draws each ``Chart`` with Chart.js, so no script is inline
(the Content-Security-Policy allows none). A chart names its series and their values;
colours are only given where they mean something (early, on time, late), the script picks
the rest from one palette.

``Table`` is the report's rows as the CSV has them: the columns are the fields of the
first row, in order, so the page's table and the CSV never disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ChartKind = Literal["bar", "line"]
MAX_TABLE_ROWS = 500  # the page shows this many; the CSV has them all


@dataclass(frozen=True)
class Series:
    label: str
    values: tuple[float | None, ...]
    color: str | None = None


@dataclass(frozen=True)
class Chart:
    key: str  # the canvas is ``chart-<key>``
    title: str
    kind: ChartKind
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    stacked: bool = False
    y_title: str = ""
    y_max: float | None = None

    @property
    def empty(self) -> bool:
        return not self.labels or all(
            all(value is None for value in series.values) for series in self.series
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "kind": self.kind,
            "labels": list(self.labels),
            "series": [
                {"label": s.label, "values": list(s.values), "color": s.color} for s in self.series
            ],
            "stacked": self.stacked,
            "yTitle": self.y_title,
            "yMax": self.y_max,
        }


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    total: int  # rows in the report; ``rows`` holds at most MAX_TABLE_ROWS of them

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def record_fields(record: Any) -> dict[str, Any]:
    """A flat record (a dataclass or a mapping) as an ordered dict of its fields."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if isinstance(record, Mapping):
        return dict(record)
    raise TypeError(f"a report row is a dataclass or a mapping, not {type(record).__name__}")


def table_of(records: Sequence[Any], *, limit: int = MAX_TABLE_ROWS) -> Table:
    """The first ``limit`` records as a table whose columns are the first record's fields."""
    if not records:
        return Table(columns=(), rows=(), total=0)
    columns = tuple(record_fields(records[0]))
    rows = tuple(
        tuple(_cell(record_fields(record).get(column)) for column in columns)
        for record in records[:limit]
    )
    return Table(columns=columns, rows=rows, total=len(records))


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def series_by(
    records: Iterable[Any],
    *,
    label_of: str,
    value_fields: Sequence[tuple[str, str, str | None]],
    scale: float = 1.0,
) -> tuple[tuple[str, ...], tuple[Series, ...]]:
    """Labels (``label_of`` of each record, in order) and one series per
    ``(field, series label, colour)``, each value multiplied by ``scale`` (a share as %).
    A missing or ``None`` value is a gap."""
    fields = [record_fields(record) for record in records]
    labels = tuple(str(row.get(label_of)) for row in fields)
    series = tuple(
        Series(
            label=label,
            values=tuple(_scaled(row.get(name), scale) for row in fields),
            color=color,
        )
        for name, label, color in value_fields
    )
    return labels, series


def _scaled(value: Any, scale: float) -> float | None:
    if value is None:
        return None
    return round(float(value) * scale, 3)


@dataclass(frozen=True)
class PageContent:
    """A report page's body: its charts, its table (the CSV's rows) and a few facts."""

    charts: tuple[Chart, ...]
    table: Table
    table_title: str
    notes: tuple[str, ...] = ()


# Adherence has colours of its own on every chart: early, on time, late.
EARLY, ON_TIME, LATE = "#ef6c00", "#2e7d32", "#c62828"
PERCENT = 100.0


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share * PERCENT:.1f} %"


def _direction_label(route_id: Any, direction_id: Any) -> str:
    return f"{route_id}" if direction_id is None else f"{route_id} · dir {direction_id}"


def on_time_content(report: Any) -> PageContent:
    """``reports.selectors.on_time.OnTimeReport``: shares by route and by hour, stacked."""
    adherence = (
        ("early_share", "early", EARLY),
        ("on_time_share", "on time", ON_TIME),
        ("late_share", "late", LATE),
    )
    charts = []
    for dimension, title in (("route", "By route"), ("hour", "By hour of day")):
        labels, series = series_by(
            report.by(dimension), label_of="key", value_fields=adherence, scale=PERCENT
        )
        if dimension == "hour":
            labels = tuple(f"{label}:00" for label in labels)
        charts.append(
            Chart(
                key=f"on-time-{dimension}",
                title=f"{title}: departures early, on time and late",
                kind="bar",
                labels=labels,
                series=series,
                stacked=True,
                y_title="% of departures",
                y_max=PERCENT,
            )
        )
    total = report.total
    return PageContent(
        charts=tuple(charts),
        table=table_of(report.rows),
        table_title="By route, stop and hour",
        notes=(
            f"window: early before -{report.early_s} s, late after +{report.late_s} s",
            f"{total['departures']} departures, {_percent(total['on_time_share'])} on time",
        ),
    )


def headway_content(report: Any) -> PageContent:
    """``reports.selectors.headways.HeadwayReport``: regularity and bunching per route."""
    routes = [
        {**row, "label": _direction_label(row["route_id"], row["direction_id"])}
        for row in report.routes
    ]
    labels, cv = series_by(routes, label_of="label", value_fields=(("cv", "CV", None),))
    _, bunched = series_by(
        routes,
        label_of="label",
        value_fields=(("bunched_share", "bunched", LATE),),
        scale=PERCENT,
    )
    _, means = series_by(
        routes,
        label_of="label",
        value_fields=(
            ("mean_headway_s", "observed", None),
            ("scheduled_mean_headway_s", "scheduled", "#90a4ae"),
        ),
        scale=1 / 60,
    )
    return PageContent(
        charts=(
            Chart(
                "headway-cv",
                "Coefficient of variation of headways (0 = perfectly even)",
                "bar",
                labels,
                cv,
                y_title="CV",
            ),
            Chart(
                "headway-bunching",
                "Bunched headways (under 25 % of the scheduled)",
                "bar",
                labels,
                bunched,
                y_title="% of headways",
            ),
            Chart("headway-mean", "Mean headway", "bar", labels, means, y_title="minutes"),
        ),
        table=table_of(report.rows),
        table_title="By stop",
        notes=(f"frequent routes: scheduled headway up to {report.frequent_headway_s} s",),
    )


def running_time_content(report: Any, *, route_id: str | None = None) -> PageContent:
    """``reports.selectors.running_times.RunningTimeReport``: whole trips per route and
    direction, and the segments of one route and direction (the filter's, else the first)."""
    percentiles = (
        ("observed_p50_s", "observed median", None),
        ("observed_p90_s", "observed p90", "#ef6c00"),
        ("observed_p95_s", "observed p95", "#c62828"),
        ("scheduled_p50_s", "scheduled median", "#90a4ae"),
    )
    trips = [
        {**row, "label": _direction_label(row["route_id"], row["direction_id"])}
        for row in report.trips
    ]
    labels, series = series_by(trips, label_of="label", value_fields=percentiles, scale=1 / 60)
    segments = report.segments
    first = next((row for row in segments if route_id in (None, row["route_id"])), None)
    shown = (
        [
            {**row, "label": f"{row['from_stop_id']}→{row['to_stop_id']}"}
            for row in segments
            if first is not None
            and (row["route_id"], row["direction_id"]) == (first["route_id"], first["direction_id"])
        ]
        if first is not None
        else []
    )
    segment_labels, segment_series = series_by(
        shown,
        label_of="label",
        value_fields=(percentiles[0], percentiles[1], percentiles[3]),
    )
    segment_title = (
        f"Segments of {_direction_label(first['route_id'], first['direction_id'])}"
        if first is not None
        else "Segments"
    )
    return PageContent(
        charts=(
            Chart("running-trips", "Whole trips", "bar", labels, series, y_title="minutes"),
            Chart(
                "running-segments",
                f"{segment_title}, stop to stop",
                "bar",
                segment_labels,
                segment_series,
                y_title="seconds",
            ),
        ),
        table=table_of(report.rows),
        table_title="Trips (no stops named) and segments",
    )


def accuracy_content(report: Any) -> PageContent:
    """``reports.selectors.accuracy.AccuracyReport``: TransitApp's bands by horizon bucket,
    MAE and bias, and the within-band share over time (by day over a range, else by hour)."""
    buckets = report.by_bucket
    labels, within = series_by(
        buckets,
        label_of="bucket",
        value_fields=(("within_share", "within the band", ON_TIME),),
        scale=PERCENT,
    )
    _, errors = series_by(
        buckets,
        label_of="bucket",
        value_fields=(("mae_s", "MAE", None), ("bias_s", "bias", "#8e24aa")),
    )
    over_time, step = (
        (report.by_day, "day") if report.filters.days > 1 else (report.by_hour, "hour")
    )
    times = sorted({getattr(row, step) for row in over_time})
    banded = [bucket.label for bucket in report.buckets if bucket.banded]
    share = {(row.bucket, getattr(row, step)): row.within_share for row in over_time}
    trend = tuple(
        Series(
            label=label,
            values=tuple(_scaled(share.get((label, t)), PERCENT) for t in times),
        )
        for label in banded
    )
    time_labels = tuple(f"{t}:00" if step == "hour" else str(t) for t in times)
    return PageContent(
        charts=(
            Chart(
                "accuracy-within",
                "Share within TransitApp's band, by time to arrival",
                "bar",
                labels,
                within,
                y_title="% of predictions",
                y_max=PERCENT,
            ),
            Chart(
                "accuracy-error",
                "Mean absolute error and bias (+: the bus came before the time told)",
                "bar",
                labels,
                errors,
                y_title="seconds",
            ),
            Chart(
                "accuracy-trend",
                f"Within the band, by {step}",
                "line",
                time_labels,
                trend,
                y_title="% of predictions",
                y_max=PERCENT,
            ),
        ),
        table=table_of(report.rows),
        table_title="By bucket, route, day and hour",
        notes=(
            f"overall accuracy {_percent(report.overall_accuracy)}",
            f"{report.predictions} predictions logged, {report.unobserved} never observed",
        ),
    )


def data_quality_content(report: Any) -> PageContent:
    """``reports.selectors.data_quality.DataQualityReport``: per day, and dead letters."""
    labels, vehicles = series_by(
        report.rows,
        label_of="date",
        value_fields=(("vehicles_reporting", "vehicles reporting", None),),
    )
    _, matched = series_by(
        report.rows,
        label_of="date",
        value_fields=(("matched_share", "pings matched on-route", ON_TIME),),
        scale=PERCENT,
    )
    _, intervals = series_by(
        report.rows,
        label_of="date",
        value_fields=(
            ("ping_interval_median_s", "median", None),
            ("ping_interval_p95_s", "p95", "#ef6c00"),
        ),
    )
    reasons, letters = series_by(
        report.dead_letters,
        label_of="reason",
        value_fields=(("count", "dead letters", LATE),),
    )
    return PageContent(
        charts=(
            Chart(
                "quality-vehicles",
                "Vehicles reporting",
                "bar",
                labels,
                vehicles,
                y_title="vehicles",
            ),
            Chart(
                "quality-matched",
                "Pings matched on-route",
                "bar",
                labels,
                matched,
                y_title="% of pings",
                y_max=PERCENT,
            ),
            Chart("quality-interval", "Ping interval", "bar", labels, intervals, y_title="seconds"),
            Chart(
                "quality-letters",
                "Dead letters by reason",
                "bar",
                reasons,
                letters,
                y_title="letters",
            ),
        ),
        table=table_of(report.rows),
        table_title="By day",
        notes=(f"{sum(row['count'] for row in report.dead_letters)} dead letters",),
    )
