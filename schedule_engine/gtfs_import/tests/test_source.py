"""The import reports each long file's progress while it loads (drawn as a bar on a terminal)."""

from schedule_engine.gtfs_import import source as source_module
from schedule_engine.gtfs_import.source import FeedSource


def test_a_table_reports_rows_and_the_share_of_bytes_read(tmp_path, monkeypatch):
    monkeypatch.setattr(source_module, "PROGRESS_ROWS", 100)
    (tmp_path / "stops.txt").write_text(
        "stop_id,stop_name,stop_lat,stop_lon\n"
        + "".join(f"S{i},Stop {i},9.93,-84.09\n" for i in range(1, 1001))
    )
    reports = []
    feed = FeedSource(tmp_path)
    with feed.table("stops.txt", lambda rows, fraction: reports.append((rows, fraction))) as table:
        records = sum(1 for _ in table)
    assert records == 1000
    assert [rows for rows, _ in reports] == list(range(100, 1001, 100))
    fractions = [fraction for _, fraction in reports]
    assert fractions == sorted(fractions) and fractions[0] > 0 and fractions[-1] <= 1.0


def test_without_a_listener_nothing_is_reported(tmp_path):
    (tmp_path / "stops.txt").write_text("stop_id\nS1\n")
    with FeedSource(tmp_path).table("stops.txt") as table:
        assert [record["stop_id"] for record in table] == ["S1"]
