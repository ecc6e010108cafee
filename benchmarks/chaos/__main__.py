"""`make chaos`: the fault matrix under paced load with the simulator running; one row per fault.

``python -m benchmarks.chaos [--faults all|worker-sigkill,...] [--vehicles 200]
[--sim-vehicles 10] [--speedup 2] [--build-interval 5] [--timeout 90] [--row-seconds 30]
[--workdir DIR]``

Starts the stack (``stack.Stack``: private PostgreSQL, Redis, Mosquitto; one
realtime-engine worker, beat, the simulator and the paced publisher of ``load``),
waits for a green baseline, then injects each fault of ``faults.FAULTS`` in turn and
polls the checks of ``checks`` every second until hot state, runs, feeds and history
pass (the recovery time) or ``--timeout``; by the end of the row (``--row-seconds``)
all five must pass, a stop event recorded after the fault included. A check counts
only acknowledgements made after the fault was injected (older than ``LAG_S``, the
time a batch takes to land), so a fault cannot pass on the state it found. At the
end the publisher stops, the history drains, and each row's acknowledged fixes (by
fix timestamp, between its fault and the next) are matched against position history.
Exits 1 if any row fails. See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.chaos.faults import BEAT, WORKER, Fault, faults_select
from benchmarks.chaos.stack import Stack, StackOptions, machine, new_topic_root

PREFIX = "CHAOS-"
# An acknowledged fix is expected in hot state and history this long after its PUBACK.
LAG_S = 2.0
# After the publisher stops: how long the last fixes may take to reach history.
DRAIN_S = 60.0
BASELINE_TIMEOUT_S = 180.0
SIGNAL_LOST_EVENTS = ("run_tracking_lost", "run_tracking_expired")
CHECKS = ("hot", "runs", "matching", "feeds", "stored")
# Recovery is these passing; a stop event after the fault comes when the next bus reaches
# a stop (every ~20 s across this fleet), so it is required by the row's end instead.
RECOVERY_CHECKS = ("hot", "runs", "feeds", "stored")
# A process that still logs a warning this long after its fault has not healed.
COMPLAINT_WINDOW_S = 10.0
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ (WARNING|ERROR|CRITICAL) ")


@dataclass
class Row:
    title: str
    started: float  # epoch s the fault began (fix timestamps from here belong to the row)
    note: str = ""
    recovery_s: float | None = None  # None: not green within the timeout
    checks: dict = field(default_factory=dict)  # name → Check at the end of the wait
    acked: int = 0
    stored: int = 0
    signal_lost: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.recovery_s is not None
            and self.acked == self.stored
            and self.signal_lost == 0
            and all(check.ok for check in self.checks.values())
            and not self.notes
        )


class Harness:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        from benchmarks.chaos.load import AckLog

        self.stack, self.args = stack, args
        self.ack_log = AckLog(stack.workdir / "acks.log", PREFIX)
        self.interval_s = float(args.build_interval)
        # Matching, a prediction and one more build after a run starts.
        self.grace_s = 3 * self.interval_s + 5

    def checks(self, since: float, stored_since: float | None = None) -> dict:
        """The five checks now, over acknowledgements after ``since`` (older than LAG_S);
        history is checked for the fixes from ``stored_since`` (default ``since``) on."""
        import redis
        from django.db import Error as DatabaseError
        from django.db import connection

        from benchmarks.chaos import checks

        self.ack_log.refresh()
        now = time.time()
        acked_before = now - LAG_S
        result: dict = {}
        client = redis.Redis(port=self.stack.redis_port, decode_responses=True)
        try:
            if acked_before < since:
                waiting = checks.Check(False, "waiting for post-fault acks")
                return {"stored": waiting, "hot": waiting}
            result["hot"] = checks.hot_state_check(client, self.ack_log, acked_before)
            result["runs"], runs = checks.runs_check(client)
            result["feeds"] = checks.feeds_check(client, runs, now, self.interval_s, self.grace_s)
            result["matching"] = checks.stop_events_check(runs, since, now)
            result["stored"] = checks.stored_check(
                self.ack_log, stored_since or since, acked_before
            )
        except DatabaseError as error:
            connection.close()
            result.setdefault("runs", checks.Check(False, f"PostgreSQL: {error}".splitlines()[0]))
        except redis.RedisError as error:
            result.setdefault("hot", checks.Check(False, f"Redis: {error}"))
        finally:
            client.close()
        return result

    def wait_green(
        self,
        since: float,
        timeout: float,
        stored_since: float | None = None,
        required: tuple[str, ...] = RECOVERY_CHECKS,
    ) -> tuple[float | None, dict]:
        """Poll the checks until the ``required`` ones pass: when (None on timeout)."""
        deadline = time.time() + timeout
        last: dict = {}
        while time.time() < deadline:
            last = self.checks(since, stored_since)
            if all(name in last and last[name].ok for name in required):
                return time.time(), last
            time.sleep(1.0)
        return None, last

    def supervise(self, row: Row) -> None:
        """Restart any process that exited on its own (as a supervisor would), noting it."""
        stack = self.stack
        for name, worker in list(stack.workers.items()):
            if worker.process.poll() is not None:
                row.notes.append(f"worker {name} exited {worker.process.returncode}")
                stack.start_worker(name)
        for name, beat in list(stack.beats.items()):
            if beat.process.poll() is not None:
                row.notes.append(f"{name} exited {beat.process.returncode}")
                stack.start_beat(name)
        simulator = stack.others["simulator"]
        if simulator.process.poll() is not None:
            tail = [ln for ln in simulator.log().splitlines() if ln.strip()][-1:]
            row.notes.append(f"simulator exited {simulator.process.returncode}: {tail}")
            stack.start_simulator()

    def run_fault(self, fault: Fault) -> Row:
        row = Row(fault.title, started=time.time())
        say(f"chaos: {fault.title} ...")
        row.note = fault.inject(self.stack)
        injected = time.time()
        green_at, row.checks = self.wait_green(injected, self.args.timeout)
        if green_at is not None and fault.undo is not None:
            time.sleep(fault.hold_builds * self.interval_s)
            held_at, held = self.wait_green(time.time(), self.args.timeout)
            row.note += f"; held {fault.hold_builds} builds: " + ("green" if held_at else "RED")
            row.note += "; " + fault.undo(self.stack)
            undone = time.time()
            undone_at, row.checks = self.wait_green(undone, self.args.timeout)
            if held_at is None or undone_at is None:
                row.checks = held if held_at is None else row.checks
                green_at = None
            else:
                row.note += f", green {undone_at - undone:.0f} s after"
        elif fault.undo is not None:
            row.note += "; " + fault.undo(self.stack)
        row.recovery_s = None if green_at is None else green_at - row.started
        if green_at is not None:
            self.hold(row, injected)
        self.supervise(row)
        say(f"chaos:   {format_row(row, final=False)}")
        return row

    def hold(self, row: Row, injected: float) -> None:
        """Watch the row for at least ``--row-seconds``: it must still be green at the end
        (a process that dies later, a stranded session, a run losing its signal)."""
        time.sleep(max(0.0, row.started + self.args.row_seconds - time.time()))
        self.supervise(row)
        green_at, row.checks = self.wait_green(
            injected, self.args.timeout, row.started, required=CHECKS
        )
        if green_at is None:
            row.notes.append("red again after recovering")
        self.note_complaints(row)

    def note_complaints(self, row: Row) -> None:
        """Note each process that still logs warnings at the end of its row."""
        stack = self.stack
        processes = {**stack.workers, **stack.beats, "simulator": stack.others["simulator"]}
        for name, handle in processes.items():
            complaints = recent_complaints(handle.log(), time.time() - COMPLAINT_WINDOW_S)
            if complaints:
                count = len(complaints)
                row.notes.append(f"{name} still logs ({count} lines): {complaints[-1][:200]}")
                if name == "simulator":  # stuck: a fresh one keeps the next rows meaningful
                    handle.stop()
                    stack.start_simulator()

    def baseline(self) -> Row:
        row = Row("baseline (no fault)", started=time.time())
        say("chaos: waiting for a green baseline with runs in progress ...")
        deadline = time.time() + BASELINE_TIMEOUT_S
        green_at = None
        while time.time() < deadline:
            green_at, row.checks = self.wait_green(row.started, deadline - time.time())
            if green_at is None or "(0 in progress)" not in row.checks["runs"].detail:
                break
            time.sleep(2)
        row.recovery_s = None if green_at is None else green_at - row.started
        row.note = "stack started"
        if green_at is not None:
            self.hold(row, row.started)
        self.supervise(row)
        say(f"chaos:   {format_row(row, final=False)}")
        return row

    def finish(self, rows: list[Row]) -> None:
        """Stop the publisher, let history drain, and count each row's acknowledged fixes."""
        from benchmarks.chaos import checks

        load = self.stack.others["load"]
        load.stop(timeout=60)
        self.ack_log.refresh()
        ends = [row.started for row in rows[1:]] + [float("inf")]
        deadline = time.time() + DRAIN_S
        while True:
            stored = checks.stored_fixes(PREFIX, rows[0].started)
            missing = checks.unstored(self.ack_log.acks, stored)
            if not missing or time.time() > deadline:
                break
            time.sleep(2)
        for row, end in zip(rows, ends, strict=True):
            acks = self.ack_log.between(row.started, end, float("inf"))
            row.acked = len(acks)
            row.stored = row.acked - len(checks.unstored(acks, stored))
            row.signal_lost = signal_lost_between(row.started, end)


def recent_complaints(log: str, since: float) -> list[str]:
    """Warning and error lines a process logged after ``since`` (epoch s, local clock)."""
    found = []
    for line in log.splitlines()[-400:]:
        match = _LOG_LINE.match(line)
        if match:
            at = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            if at >= since:
                found.append(line)
    return found


def signal_lost_between(start: float, end: float) -> int:
    """Accepted No Signal / expiry transitions between the times (none should happen)."""
    import datetime as dt

    from runs.models import RunLifecycleTransition

    window = {"created_at__gte": dt.datetime.fromtimestamp(start, dt.UTC)}
    if end != float("inf"):
        window["created_at__lt"] = dt.datetime.fromtimestamp(end, dt.UTC)
    return RunLifecycleTransition.objects.filter(
        accepted=True, event__in=SIGNAL_LOST_EVENTS, **window
    ).count()


COLUMNS = ("fault", "acked", "stored", "lost", "hot state newest", "runs consistent",
           "stop events", "feeds fresh", "no signal", "recovery s", "result", "note")  # fmt: skip


def format_row(row: Row, *, final: bool = True) -> str:
    def cell(name: str) -> str:
        check = row.checks.get(name)
        if check is None:
            return "—"
        return ("ok " if check.ok else "FAIL ") + check.detail

    recovery = "—" if row.recovery_s is None else f"{row.recovery_s:.0f}"
    note = "; ".join([row.note, *row.notes])
    counts = [f"{row.acked:,}", f"{row.stored:,}", f"{row.acked - row.stored:,}"]
    if not final:
        counts = ["", "", ""]
    cells = [row.title, *counts, cell("hot"), cell("runs"), cell("matching"), cell("feeds")]
    cells += [str(row.signal_lost) if final else "", recovery]
    cells += ["ok" if row.ok else "FAIL" if final else ("green" if row.recovery_s else "RED"), note]
    return "| " + " | ".join(cells) + " |"


def say(line: str) -> None:
    print(line, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--faults", default="all", help="comma-separated fault names, or all")
    parser.add_argument("--vehicles", type=int, default=200, help="paced vehicles at 1 Hz")
    parser.add_argument("--sim-vehicles", type=int, default=10, help="simulated buses")
    parser.add_argument("--speedup", type=float, default=2.0, help="simulator speed-up")
    parser.add_argument("--build-interval", type=int, default=5, help="FEED_BUILD_INTERVAL_S")
    parser.add_argument("--timeout", type=float, default=90.0, help="recovery budget per fault")
    parser.add_argument(
        "--row-seconds", type=float, default=30.0, help="watch each fault at least this long"
    )
    parser.add_argument("--workdir", type=Path, help="keep services and logs here")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        faults = faults_select(args.faults)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="databus-chaos-"))
    options = StackOptions(
        simulated_vehicles=args.sim_vehicles,
        speedup=args.speedup,
        feed_build_interval_s=args.build_interval,
        topic_root=new_topic_root(),
    )
    stack = Stack(workdir, options)
    started = time.monotonic()
    say(f"chaos: {machine()}; work folder {workdir}")
    try:
        stack.start_services()
        stack.point_django_here()
        import django

        django.setup()
        stack.prepare_database()
        stack.register_load_vehicles(PREFIX, args.vehicles)
        stack.start_worker(WORKER)
        stack.wait_subscribed(WORKER)
        stack.start_beat(BEAT)
        stack.start_simulator()
        stack.start_load(PREFIX, args.vehicles, workdir / "acks.log")
        harness = Harness(stack, args)
        rows = [harness.baseline()]
        rows += [harness.run_fault(fault) for fault in faults]
        harness.finish(rows)
    finally:
        stack.close()
    say("")
    say(
        f"chaos: {args.vehicles} paced vehicles at 1 Hz (QoS 1), {args.sim_vehicles} simulated "
        f"buses at speed-up {args.speedup:g}, feeds every {args.build_interval} s; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    say("| " + " | ".join(COLUMNS) + " |")
    say("|" + "---|" * len(COLUMNS))
    for row in rows:
        say(format_row(row))
    failed = [row.title for row in rows if not row.ok]
    say(f"chaos: {'FAILED: ' + ', '.join(failed) if failed else 'every row passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
