"""`make bench-import`: import `../shared/fixtures/wmata/gtfs.zip` and print seconds and peak RSS.

Creates a scratch database (``<name>_bench_import``, dropped at the end) with the
schedule tables, then imports the feed (with activation) in a fresh child
process per run, so the peak resident memory is the import's own (Django
included), not the migrations'. The feed is deleted between runs (an identical
feed would otherwise be skipped by its content hash). Prints each run and the
median; the targets are ≤ 20 s and ≤ 500 MB (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

FEED = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "wmata" / "gtfs.zip"
TARGET_S = 20.0
TARGET_MB = 500.0


def child_main(path: str) -> None:
    """One import in this process; prints a JSON line with the figures."""
    import django

    django.setup()
    from schedule_engine.models import Feed
    from schedule_engine.services import feed_import

    started = time.perf_counter()
    result = feed_import(path=path, name="bench", activate=True)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    counts = result.counts
    Feed.objects.filter(pk=result.feed.pk).delete()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "counts": counts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--feed", default=str(FEED))
    args = parser.parse_args()

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    django.setup()
    from django.db import connections

    from benchmarks.scratch_db import database_url, drop_database, scratch_database

    name = scratch_database("import", app_label="schedule_engine")
    try:
        connections.close_all()
        url = database_url()
        env = dict(os.environ, DATABASE_URL=url)
        runs = []
        for run in range(1, args.runs + 1):
            output = subprocess.run(
                [sys.executable, "-m", "benchmarks.gtfs_import", "child", args.feed],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            figures = json.loads(output.strip().splitlines()[-1])
            runs.append(figures)
            print(
                f"run {run}: {figures['seconds']:.2f} s, peak RSS {figures['peak_rss_mb']:.0f} MB"
                f" ({figures['counts'].get('stop_times.txt', 0):,} stop times)",
                flush=True,
            )
    finally:
        drop_database(name)
    seconds = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak_rss_mb"] for r in runs)
    met = seconds <= TARGET_S and peak <= TARGET_MB
    print(
        f"GTFS import of {Path(args.feed).name}: median {seconds:.2f} s over {len(runs)} runs, "
        f"peak RSS {peak:.0f} MB (target ≤ {TARGET_S:.0f} s, ≤ {TARGET_MB:.0f} MB: "
        f"{'met' if met else 'MISSED'})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
        child_main(sys.argv[2])
    else:
        main()
