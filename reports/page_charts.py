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
