"""`make demo`: run the whole databus system locally on the bundled demo network.

Applies migrations, creates a demo admin user, imports the demo network when it
is not current yet (on a clock inside its service hours when it is night in
Alderport), announces what a dispatcher's day has (one active service alert, one
detour: a trip's stops skipped with a DETOUR alert, through the same services as the
API), writes yesterday's service day of history for the reports (``manage.py
demo_history``), then starts web (uvicorn, ASGI), a Celery worker with the MQTT consumer,
Celery beat and the fleet simulator, prints where to look, and stops them all on
Ctrl-C. Services must already answer (`make demo` runs scripts/ensure_services.py
first).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = int(os.environ.get("DEMO_PORT", "8000"))
ADMIN_USER = os.environ.get("DEMO_ADMIN_USER", "admin")
ADMIN_PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD", "databus-demo")
# Web /metrics needs a bearer token (docs/operations.md, "TLS, metrics and readiness").
METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or "databus-demo-metrics-token-not-a-secret"
DEMO_GTFS = ROOT / "demo" / "gtfs"
LOG_DIR = ROOT / ".run" / "demo"
# The demo's alert and detour (schedule_engine/demo_network/generate.py's network).
ALERT_HEADER = "Route 2: roadworks on 5th Ave, expect delays at Elm St"
ALERT_ROUTE, ALERT_STOP = "2", "AP404"
DETOUR_ROUTE = "1"
DETOUR_SEQUENCES = (3, 4)  # northbound: Cedar St & 5th Ave (Central Station) and & 7th Ave


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, check=True)


def ensure_admin() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    user, _ = User.objects.get_or_create(username=ADMIN_USER)
    user.is_staff = user.is_superuser = True
    user.set_password(ADMIN_PASSWORD)
    user.save()
    dispatcher, _ = Group.objects.get_or_create(name="dispatcher")
    user.groups.add(dispatcher)


def dispatcher_day() -> list[str]:
    """One active alert and one detour (the next northbound route 1 trip skips two stops,
    with a DETOUR alert), made once: a demo started again while they last finds them.
    The lines to print."""
    from django.contrib.auth.models import User

    from alerts.selectors import alert_input_of, alerts_active
    from alerts.services import alert_create
    from alerts.values import ActivePeriod, AlertInput, InformedEntity, Translation
    from runs.models import TripOperation
    from runs.services.actors import actor_for_user
    from runs.services.trip_operations import trip_skip_stops
    from schedule_engine.selectors import current_feed_get, service_day_trips

    actor = actor_for_user(User.objects.get(username=ADMIN_USER))
    now = dt.datetime.now(dt.UTC)
    active = {alert_input_of(a).default_header(): a for a in alerts_active(now=now)}
    lines = []
    if ALERT_HEADER not in active:
        alert = alert_create(
            actor=actor,
            data=AlertInput(
                header=(Translation("", ALERT_HEADER),),
                informed_entities=(
                    InformedEntity(route_id=ALERT_ROUTE),
                    InformedEntity(stop_id=ALERT_STOP),
                ),
                active_periods=(ActivePeriod(start=now, end=now + dt.timedelta(hours=6)),),
                cause="CONSTRUCTION",
                effect="SIGNIFICANT_DELAYS",
                severity="WARNING",
            ),
        )
        active[ALERT_HEADER] = alert
    lines.append(f"alert #{active[ALERT_HEADER].pk}: {ALERT_HEADER}")
    held = TripOperation.objects.filter(
        kind=TripOperation.Kind.SKIP_STOPS,
        route_id=DETOUR_ROUTE,
        ended_at=None,
        active_until__gt=now,
    ).first()
    if held is not None:
        sequences = ", ".join(map(str, held.skipped_stop_sequences))
        return [*lines, f"detour: trip {held.trip_id} skips stops {sequences} (made earlier)"]
    feed = current_feed_get()
    today = now.astimezone(zoneinfo.ZoneInfo(feed.timezone)).date()
    upcoming = [
        t
        for t in service_day_trips(today, feed=feed)
        if t.route_id == DETOUR_ROUTE and t.direction_id == 0 and t.first_departure > now
    ]
    if not upcoming:
        return [*lines, "detour: no route 1 trip left today"]
    trip = upcoming[0]
    outcome = trip_skip_stops(
        actor=actor,
        trip_id=trip.trip_id,
        start_date=today,
        stop_sequences=DETOUR_SEQUENCES,
        detour_alert=True,
    )
    if not outcome.accepted:
        return [*lines, f"detour: not made ({outcome.refusal}: {dict(outcome.errors)})"]
    operation = outcome.operation
    skipped = ", ".join(s.stop_id for s in trip.stop_times if s.stop_sequence in DETOUR_SEQUENCES)
    return [*lines, f"detour: trip {trip.trip_id} skips {skipped} (alert #{operation.alert_id})"]


def demo_history() -> None:
    """Yesterday's service day (agency time zone) as it would have been recorded, so the
    reports show a day on first start (reports.demo_history; a restart rewrites it)."""
    done = subprocess.run([PYTHON, "manage.py", "demo_history"], cwd=ROOT, check=False)
    if done.returncode != 0:
        print("demo: the day of history was not written; the reports show today's data only")


def demo_network_in_service() -> Path:
    """The demo network, or a copy on a clock inside its service hours when it is night
    in Alderport (schedule_engine/demo_network/clock.py)."""
    from schedule_engine.demo_network import AGENCY_TIMEZONE
    from schedule_engine.demo_network.clock import demo_network_copy, demo_timezone

    now = dt.datetime.now(dt.UTC)
    zone = demo_timezone(now)
    if zone == AGENCY_TIMEZONE:
        return DEMO_GTFS
    there = now.astimezone(zoneinfo.ZoneInfo(AGENCY_TIMEZONE)).strftime("%H:%M")
    here = now.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%H:%M")
    print(
        f"demo: it is {there} in {AGENCY_TIMEZONE}, when the demo network has no buses out;\n"
        f"      importing it with agency_timezone {zone} instead ({here} there), so they run"
    )
    return demo_network_copy(LOG_DIR / "gtfs", zone)


def start(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = (LOG_DIR / f"{name}.log").open("ab")
    print(f"demo: starting {name:<10} (log: {LOG_DIR / (name + '.log')})")
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_ready(url: str, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def stop_all(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, process in processes.items():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            print(f"demo: {name} did not stop in time; killing it")
            os.killpg(process.pid, signal.SIGKILL)
    print("demo: stopped")


def main() -> int:
    env = {
        **os.environ,
        "DEBUG": os.environ.get("DEBUG", "true"),
        "METRICS_TOKEN": METRICS_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    manage("migrate", "--noinput", "-v", "0")
    ensure_admin()
    announced = []
    if DEMO_GTFS.exists():
        manage("import_gtfs", str(demo_network_in_service()), "--activate", "--name", "demo")
        announced = dispatcher_day()
        demo_history()
    base = f"http://127.0.0.1:{PORT}"
    celery = [PYTHON, "-m", "celery", "-A", "databus"]
    web = [PYTHON, "-m", "uvicorn", "backend.asgi:application", "--host", "127.0.0.1"]
    web += ["--port", str(PORT), "--ws-max-size", "16384"]
    # Compressing each client's copy of one stream costs more CPU than it saves
    # (docs/benchmarks.md, Live updates).
    web += ["--ws-per-message-deflate", "false"]
    worker = [*celery, "worker", "--loglevel=INFO", "--pool=solo", "-n", "demo-realtime@%h"]
    beat = [*celery, "beat", "--loglevel=INFO", "--schedule", str(LOG_DIR / "celerybeat-schedule")]
    processes = {
        "web": start("web", web, env),
        "worker": start("worker", worker, {**env, "MQTT_CONSUMER_ENABLED": "true"}),
        "beat": start("beat", beat, env),
    }
    if (ROOT / "realtime_engine" / "management" / "commands" / "simulate.py").exists():
        vehicles = os.environ.get("DEMO_VEHICLES", "20")
        processes["simulator"] = start(
            "simulator", [PYTHON, "manage.py", "simulate", "--vehicles", vehicles], env
        )

    stopping = False

    def request_stop(_signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    ready = wait_ready(f"{base}/readyz")
    print()
    print("databus demo is " + ("up" if ready else "starting (readyz not yet 200)") + ":")
    print(f"  live map        {base}/live/")
    print(f"  vehicle feed    {base}/gtfs-rt/vehicle-positions.pb?format=text")
    print(f"  trip updates    {base}/gtfs-rt/trip-updates.pb?format=text")
    print(f"  alerts feed     {base}/gtfs-rt/alerts.pb?format=text")
    for line in announced:
        print(f"                  {line}")
    print(f"  admin           {base}/admin/   (user {ADMIN_USER!r}, password {ADMIN_PASSWORD!r})")
    print(f"  reports         {base}/reports/")
    print(f"  API docs        {base}/api/docs/")
    print(f"  health          {base}/healthz   {base}/readyz")
    print(f"  metrics         curl -H 'Authorization: Bearer {METRICS_TOKEN}' {base}/metrics")
    print("                  (worker: http://127.0.0.1:9808/metrics)")
    print(f"  logs            {LOG_DIR}/")
    print("Press Ctrl-C to stop everything.")
    try:
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"demo: {name} exited with {process.returncode}; see its log")
                    stopping = True
            time.sleep(0.5)
    finally:
        stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
