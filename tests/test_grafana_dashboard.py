"""The shipped Grafana dashboard parses, it and the alert rules query only metrics that a
live scrape has, and a real Prometheus scraping live processes answers every panel.

"Live" is two real processes, as compose runs them: a `celery worker` (with an embedded
beat, MQTT and Streams ingest) scraped over HTTP on its ``WORKER_METRICS_PORT``, and the
web (uvicorn) scraped at ``/metrics`` with ``METRICS_TOKEN``, after each was made to do
its work: telemetry accepted and rejected, a poison stream entry, periodic tasks run by
beat, feeds built, the feed, lifecycle and WebSocket-ticket endpoints requested, a live
WebSocket connection opened (and refused). Labelled metrics exist only once a series of
them was written, so a name missing here is a name a panel would draw nothing for. A
metric name in PromQL is matched against the sample names as exposed (``_total``,
``_bucket``, ``_sum``, ``_count`` included): a query naming a counter without its
``_total`` is as empty in Prometheus as one naming nothing.
Then a real Prometheus (Debian's, with the shipped prometheus.yml and rules) scrapes the
same processes: every panel's query must answer with series, label selectors included,
and every rule must evaluate.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from databus import keys
from realtime_engine.ingest.topics import TelemetryLeaf, vehicle_topic
from realtime_engine.tests.mqtt_support import publish
from runs.tests.fixtures.feed import write_feed
from tests.support.processes import ROOT, free_port, port_answers, uvicorn_command, wait_for
from tests.support.vehicles import register_vehicles

DASHBOARD = ROOT / "deploy/grafana/databus.json"
PROMETHEUS = shutil.which("prometheus")
RULES = ROOT / "deploy/prometheus/rules.yml"
# Series Prometheus makes itself, never in a target's exposition.
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds"}
# The rows issue 18 asks for.
ROWS = {"Ingest", "Feeds", "Lifecycle", "WebSocket", "Tasks"}
TOKEN = "o3-dashboard-test-metrics-token-0123456789"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on"}
_KEYWORDS |= {"ignoring", "group_left", "group_right", "atan2"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects. Pure.

    Drops what cannot be a metric name before looking for identifiers: string literals
    (label values), ``{…}`` matchers (label names), ``[…]`` ranges, ``by (…)`` /
    ``on (…)``-style label lists, Grafana's ``$variables``, numbers and durations, then
    every identifier called like a function or aggregation (followed by ``(``) and the
    operators' keywords.
    """
    text = _STRING.sub(" ", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"(?<![A-Za-z0-9_:])\d[\w.]*", " ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        if re.match(r"\s*\(", text[match.end() :]) or match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def dashboard_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expression) of every query, rows' nested panels included."""
    found = []

    def visit(panels: list[dict]) -> None:
        for panel in panels:
            found.extend((panel["title"], t["expr"]) for t in panel.get("targets", []))
            visit(panel.get("panels", []))

    visit(dashboard["panels"])
    return found


def rule_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


def sample_names(exposition: str) -> set[str]:
    """Every sample name a Prometheus text exposition holds."""
    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(url: str, token: str | None = None) -> str:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def missing(queries: list[tuple[str, str]], exposed: set[str]) -> dict[str, set[str]]:
    gaps: dict[str, set[str]] = {}
    for where, expr in queries:
        absent = promql_metric_names(expr) - exposed - PROMETHEUS_OWN
        if absent:
            gaps.setdefault(where, set()).update(absent)
    return gaps


# ----- pure parts


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "histogram_quantile(0.95, sum by (instance, le) "
            '(rate(a_seconds_bucket{view=~"x|y"}[5m])))',
            {"a_seconds_bucket"},
        ),
        ("time() - max(beat_ts) > 2 * max(beat_interval)", {"beat_ts", "beat_interval"}),
        (
            "sum by (reason) (rate(rej_total[$__rate_interval])) / ignoring (reason) group_left "
            "sum(rate(recv_total[5m])) > 0.05",
            {"rej_total", "recv_total"},
        ),
        ('absent(hb) and on () (max(up{job=~"web|workers"}) == 1)', {"hb", "up"}),
        ("min_over_time(lag[5m:1m] offset 1h) > 1e3", {"lag"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)") or vector(0)', {"m"}),
        ("sum without (instance) (x:recorded:rate5m)", {"x:recorded:rate5m"}),
    ],
)
def test_promql_metric_names(expr, names):
    assert promql_metric_names(expr) == names


def test_dashboard_parses_and_has_every_row_with_queries():
    dashboard = json.loads(DASHBOARD.read_text())
    rows = {panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"}
    assert rows >= ROWS
    queries = dashboard_queries(dashboard)
    assert len(queries) >= 20
    for title, expr in queries:
        assert promql_metric_names(expr), f"{title}: {expr} selects no metric"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()  # Grafana's 24-column grid: no panel past the edge or over another
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
    # The data source compose.dev provisions for Grafana.
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == provisioned, panel["title"]


# ----- against live processes


@dataclass
class LiveStack:
    worker_port: int
    web_port: int
    exposed: set[str]  # the sample names of both scrapes


@pytest.fixture
def live_stack(
    tmp_path, process_env, celery_worker_factory, private_broker, topic_root, redis_client
):
    """A working worker and web, and their scrapes' sample names once both did their work."""
    from schedule_engine.services import feed_import

    feed_import(path=write_feed(tmp_path / "gtfs"), name="dashboard", activate=True)
    register_vehicles(["dash-1"])
    stream = f"{keys.TELEMETRY_AVL_STREAM}:{uuid.uuid4().hex[:8]}"
    worker_port, web_port = free_port(), free_port()
    worker = celery_worker_factory(
        {
            **process_env,
            "MQTT_URL": private_broker,
            "MQTT_CONSUMER_ENABLED": "true",
            "STREAMS_CONSUMER_ENABLED": "true",
            "STREAMS_KEYS": stream,
            "WORKER_METRICS_PORT": str(worker_port),
            "FEED_BUILD_INTERVAL_S": "1",
            "RUN_SCAN_INTERVAL_S": "1",
            "BEAT_HEARTBEAT_INTERVAL_S": "1",
            "BEAT_LOCK_TTL_S": "5",
        },
        beat=True,
    )
    web_log = (tmp_path / "web.log").open("wb")
    web = subprocess.Popen(
        uvicorn_command(web_port),
        cwd=ROOT,
        env={**process_env, "METRICS_TOKEN": TOKEN},
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "MQTT ingest subscribed" in worker.log(), 60, "the worker subscribed")
        wait_for(lambda: port_answers(web_port), 30, "web")
        now = int(time.time())
        publish(
            private_broker,
            [
                (
                    vehicle_topic(topic_root, "dash-1", TelemetryLeaf.POSITION),
                    {"latitude": 10.0, "longitude": 20.0, "timestamp": now - 2},
                ),
                (  # not registered: dead-lettered as unknown_vehicle
                    vehicle_topic(topic_root, "dash-unknown", TelemetryLeaf.POSITION),
                    {"latitude": 10.0, "longitude": 20.0, "timestamp": now - 2},
                ),
            ],
        )
        redis_client.xadd(stream, {"payload": "not json"})  # dead-lettered as not_json
        base = f"http://127.0.0.1:{web_port}"
        for method, path in [
            ("GET", "/gtfs-rt/vehicle-positions.pb"),
            ("GET", "/gtfs-rt/trip-updates.pb"),
            ("GET", "/api/runs/"),
            ("POST", "/api/ws-ticket/"),
            ("GET", "/live/"),
        ]:
            # An anonymous 401 or 403 is a request the metrics count all the same.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(
                    urllib.request.Request(
                        base + path, method=method, data=b"" if method == "POST" else None
                    ),
                    timeout=10,
                ).close()

        # An anonymous live connection: the server closes it (4401).
        live = connect(f"ws://127.0.0.1:{web_port}/ws/live/", open_timeout=10)
        with live, contextlib.suppress(ConnectionClosed):
            live.recv(timeout=10)

        needed = {
            name
            for _, expr in [*dashboard_queries(json.loads(DASHBOARD.read_text())), *rule_queries()]
            for name in promql_metric_names(expr)
        } - PROMETHEUS_OWN
        exposed: set[str] = set()

        def everything_exposed() -> bool:
            nonlocal exposed
            try:
                exposed = sample_names(scrape(f"http://127.0.0.1:{worker_port}/metrics"))
                exposed |= sample_names(scrape(f"{base}/metrics", TOKEN))
            except OSError:
                return False
            return needed <= exposed

        with contextlib.suppress(TimeoutError):  # the test names what is missing
            wait_for(everything_exposed, 90, "the workers' and web's metrics", interval=1)
        yield LiveStack(worker_port, web_port, exposed)
    finally:
        web.terminate()
        web.wait(timeout=20)
        web_log.close()
        redis_client.delete(stream, keys.TELEMETRY_DLQ)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_metric_the_dashboard_and_the_rules_query_is_in_a_live_scrape(live_stack):
    dashboard = json.loads(DASHBOARD.read_text())
    assert missing(dashboard_queries(dashboard), live_stack.exposed) == {}
    assert missing(rule_queries(), live_stack.exposed) == {}


def prometheus_api(port: int, path: str, **params: str) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}?{query}", timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus is not installed (Debian's prometheus: scripts/ensure_test_tools.py)",
)
def test_a_real_prometheus_scraping_them_answers_every_panel_and_evaluates_every_rule(
    live_stack, tmp_path
):
    """The shipped prometheus.yml (targets moved to loopback, one-second scrapes) against the
    live processes: both jobs up with web's bearer token, every panel's query answers with
    at least one series (label selectors included: a panel for a view that does not exist
    would be empty), and every rule evaluates without error."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    token_file = tmp_path / "metrics_token"
    token_file.write_text(TOKEN)
    local = {"web": live_stack.web_port, "workers": live_stack.worker_port}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{local[job['job_name']]}"]}]
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token_file)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def scraped_a_few_times() -> bool:
            try:
                result = prometheus_api(port, "query", query="min(count_over_time(up[1m]))")
            except OSError:
                return False
            return bool(result["result"]) and float(result["result"][0]["value"][1]) >= 5

        wait_for(scraped_a_few_times, 60, "five scrapes of each target", interval=0.5)
        targets = prometheus_api(port, "targets")["activeTargets"]
        assert {(t["labels"]["job"], t["health"]) for t in targets} == {
            ("web", "up"),
            ("workers", "up"),
        }, [t.get("lastError") for t in targets]

        empty = [
            (title, expr)
            for title, expr in dashboard_queries(json.loads(DASHBOARD.read_text()))
            if not prometheus_api(port, "query", query=expr.replace("$__rate_interval", "30s"))[
                "result"
            ]
        ]
        assert empty == []

        rules = [
            rule for group in prometheus_api(port, "rules")["groups"] for rule in group["rules"]
        ]
        assert {rule["name"] for rule in rules} == {name for name, _ in rule_queries()}
        assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=20)
        log.close()
