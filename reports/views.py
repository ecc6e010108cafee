"""The report pages (``/reports/``): a filter form, charts and a table per report.

Thin: a page reads its filters from the query string with ``reports.filters.parse`` (the
same reading as the REST endpoints, so a page's address and its CSV link name the same
report), calls the report's selector, and hands the result to ``reports.page_charts``
for what to draw. The charts go into the page as JSON and a static script draws them
with the vendored Chart.js (``static/reports/``): no inline script, no outside request.

Planners and dispatchers read reports (``reports.access``); anonymous users are sent to
the login page, users without either role get a 403. A filter that cannot be read is
shown on the form next to its field, with status 400.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from reports import page_charts
from reports.access import can_read_reports
from reports.filters import FIELDS, FilterError, ReportFilters, parse
from reports.page_charts import PageContent
from reports.selectors.accuracy import prediction_accuracy
from reports.selectors.data_quality import data_quality_report
from reports.selectors.days import report_today
from reports.selectors.headways import headway_report
from reports.selectors.on_time import on_time_report
from reports.selectors.running_times import running_time_report
from schedule_engine.selectors import current_feed_get, route_list


@dataclass(frozen=True)
class ReportPage:
    slug: str
    title: str
    summary: str
    api_url_name: str  # the REST endpoint of the same report (JSON, CSV)
    content: Callable[[ReportFilters], PageContent]
    # False: only the dates apply (the endpoint refuses the rest), so the form and the
    # links carry only the dates, and the others in a shared address are left aside.
    narrows: bool = True

    @property
    def url_name(self) -> str:
        return f"reports-page-{self.slug}"


def _on_time(filters: ReportFilters) -> PageContent:
    return page_charts.on_time_content(on_time_report(filters))


def _headways(filters: ReportFilters) -> PageContent:
    return page_charts.headway_content(headway_report(filters))


def _running_times(filters: ReportFilters) -> PageContent:
    return page_charts.running_time_content(running_time_report(filters), route_id=filters.route_id)


def _accuracy(filters: ReportFilters) -> PageContent:
    return page_charts.accuracy_content(prediction_accuracy(filters))


def _data_quality(filters: ReportFilters) -> PageContent:
    return page_charts.data_quality_content(data_quality_report(filters))


PAGES: tuple[ReportPage, ...] = (
    ReportPage(
        "on-time",
        "On-time performance",
        "Departures early, on time and late against the agency's window, by route, stop and hour.",
        "reports-on-time",
        _on_time,
    ),
    ReportPage(
        "headways",
        "Headway regularity",
        "Observed headways on frequent routes: their coefficient of variation and bunching.",
        "reports-headways",
        _headways,
    ),
    ReportPage(
        "running-times",
        "Running times",
        "Observed running times per route and segment against the schedule, percentiles.",
        "reports-running-times",
        _running_times,
    ),
    ReportPage(
        "prediction-accuracy",
        "Prediction accuracy",
        "What riders were told against when the bus came: MAE, bias and TransitApp's bands.",
        "reports-prediction-accuracy",
        _accuracy,
    ),
    ReportPage(
        "data-quality",
        "Data quality",
        "Vehicles reporting, ping intervals, pings matched on-route and dead letters by reason.",
        "reports-data-quality",
        _data_quality,
        narrows=False,
    ),
)
PAGES_BY_SLUG = {page.slug: page for page in PAGES}
DATES = ("start", "end")
DIRECTIONS = ("0", "1")
HOURS = tuple(str(hour) for hour in range(24))


def _require_reader(request: HttpRequest) -> None:
    if not can_read_reports(request.user):
        raise PermissionDenied("reports need the planner or dispatcher role")


def _shared_query(request: HttpRequest) -> str:
    """The filters of this address, for the links to the other pages (a shared view)."""
    return urlencode({name: request.GET[name] for name in FIELDS if request.GET.get(name)})


# Ranges a planner asks for most, as links that keep the other filters.
RANGES = (("today", 0, 0), ("yesterday", 1, 1), ("last 7 days", 7, 1), ("last 30 days", 30, 1))


def _ranges(request: HttpRequest) -> list[tuple[str, str]]:
    """(label, query) per range of RANGES: days back to its start and to its end."""
    today = report_today()
    kept = {n: request.GET[n] for n in FIELDS if n not in DATES and request.GET.get(n)}
    return [
        (
            label,
            urlencode(
                {
                    "start": (today - dt.timedelta(days=back)).isoformat(),
                    "end": (today - dt.timedelta(days=until)).isoformat(),
                    **kept,
                }
            ),
        )
        for label, back, until in RANGES
    ]


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"pages": PAGES, "query": _shared_query(request), "ranges": _ranges(request), **extra}


@require_GET
@login_required
def index(request: HttpRequest) -> HttpResponse:
    _require_reader(request)
    try:
        filters = parse(request.GET, today=report_today())
    except FilterError:
        filters = parse({}, today=report_today())  # the index only names the range
    return render(
        request,
        "reports/index.html",
        _context(request, start=filters.start, end=filters.end),
    )


@require_GET
@login_required
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    _require_reader(request)
    page = PAGES_BY_SLUG[slug]
    form = _form_values(request)
    context = _context(request, page=page, form=form, **_choices(form))
    query = request.GET if page.narrows else {f: request.GET.get(f, "") for f in DATES}
    try:
        filters = parse(query, today=report_today())
    except FilterError as error:
        context["error"] = {"field": error.field, "message": error.message}
        return render(request, "reports/report.html", context, status=400)
    content = page.content(filters)
    api = reverse(page.api_url_name)
    shown = filters.as_query()
    context.update(
        filters=filters,
        charts=content.charts,
        chart_data=[chart.as_json() for chart in content.charts if not chart.empty],
        table=content.table,
        table_title=content.table_title,
        notes=content.notes,
        csv_url=f"{api}?{urlencode({**shown, 'format': 'csv'})}",
        json_url=f"{api}?{urlencode(shown)}",
    )
    return render(request, "reports/report.html", context)


def _form_values(request: HttpRequest) -> dict[str, str]:
    """What the form shows: the query as given (a bad value stays for the user to fix)."""
    return {name: request.GET.get(name, "").strip()[:255] for name in FIELDS}


def _choices(form: dict[str, str]) -> dict[str, Any]:
    """The form's options: the current feed's routes (and the asked-for route if it is not
    one of them: a shared address from an older feed still shows what it asks)."""
    feed = current_feed_get()
    routes = list(route_list(feed=feed).values("route_id", "short_name")) if feed else []
    listed = any(route["route_id"] == form["route_id"] for route in routes)
    return {
        "routes": routes,
        "route_unlisted": form["route_id"] if form["route_id"] and not listed else "",
        "directions": DIRECTIONS,
        "hours": HOURS,
    }
