"""Reading a GTFS feed from a .zip or a folder as streamed CSV records.

`FeedSource` opens the files; `Table` yields one `Record` per CSV record with
its line number (quoted fields may span lines), the BOM stripped and extra
columns ignored. `content_hash` identifies a feed by the bytes of its files, so
the same feed zipped twice has the same hash.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from schedule_engine.gtfs_import.errors import FeedInvalid, FeedProblem

HASH_CHUNK = 1 << 20
# A long file reports its progress every this many records.
PROGRESS_ROWS = 20_000

# (records read so far, share of the file's bytes read) → None
RowProgress = Callable[[int, float], None]


class FeedSource:
    """A GTFS feed on disk: a .zip (files at its root or in one folder) or a folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FeedInvalid([FeedProblem(str(self.path), None, None, "no such file or folder")])
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        if self.path.is_dir():
            self._members = {p.name: p.name for p in self.path.iterdir() if p.suffix == ".txt"}
        else:
            try:
                self._zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile:
                raise FeedInvalid(
                    [FeedProblem(self.path.name, None, None, "not a zip file or folder")]
                ) from None
            for info in self._zip.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if name.endswith(".txt") and not info.is_dir():
                    self._members.setdefault(name, info.filename)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        return name in self._members

    @property
    def file_names(self) -> list[str]:
        return sorted(self._members)

    @contextmanager
    def open_binary(self, name: str) -> Iterator[IO[bytes]]:
        if self._zip is not None:
            with self._zip.open(self._members[name]) as handle:
                yield handle
        else:
            with (self.path / self._members[name]).open("rb") as handle:
                yield handle

    def content_hash(self) -> str:
        """SHA-256 over the names and bytes of the feed's files, in name order."""
        digest = hashlib.sha256()
        for name in self.file_names:
            digest.update(name.encode() + b"\0")
            with self.open_binary(name) as handle:
                while chunk := handle.read(HASH_CHUNK):
                    digest.update(chunk)
            digest.update(b"\0")
        return digest.hexdigest()

    def size(self, name: str) -> int:
        """Uncompressed size of a file in bytes."""
        if self._zip is not None:
            return self._zip.getinfo(self._members[name]).file_size
        return (self.path / self._members[name]).stat().st_size

    @contextmanager
    def table(self, name: str, on_rows: RowProgress | None = None) -> Iterator[Table]:
        """The file as records; ``on_rows(rows, fraction)`` is called every ``PROGRESS_ROWS``."""
        size = self.size(name)
        with self.open_binary(name) as handle:
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")

            def report(rows: int) -> None:
                # The text layer reads ahead, so the byte position runs a little early.
                on_rows(rows, min(handle.tell() / size, 1.0) if size else 1.0)

            yield Table(name, text, report if on_rows else None)


class Record:
    """One CSV record: values by column name (absent columns and missing values read as "")."""

    __slots__ = ("_table", "line", "values")

    def __init__(self, table: Table, values: list[str], line: int):
        self._table = table
        self.values = values  # one per header column, then a blank that absent columns point at
        self.line = line

    def __getitem__(self, column: str) -> str:
        return self.values[self._table.index(column)].strip()


class Table:
    """A GTFS file as a stream of records, with its header."""

    def __init__(self, name: str, text: IO[str], report: Callable[[int], None] | None = None):
        self.name = name
        self._report = report
        self._reader = csv.reader(text)
        try:
            header = next(self._reader)
        except StopIteration:
            header = []
        except (csv.Error, UnicodeDecodeError) as error:
            raise FeedInvalid([FeedProblem(name, 1, None, f"unreadable header: {error}")]) from None
        self.columns = {column.strip(): i for i, column in enumerate(header)}
        self.width = len(header)

    def index(self, column: str) -> int:
        """Position of ``column`` in `Record.values` (the trailing blank when absent)."""
        return self.columns.get(column, self.width)

    def missing(self, required: tuple[str, ...]) -> list[str]:
        return [column for column in required if column not in self.columns]

    def __iter__(self) -> Iterator[Record]:
        width = self.width
        padding = [""] * (width + 1)
        reader = self._reader
        report, rows = self._report, 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as error:
                raise FeedInvalid(
                    [FeedProblem(self.name, reader.line_num, None, f"unreadable CSV: {error}")]
                ) from None
            if not values or (len(values) == 1 and not values[0].strip()):
                continue  # blank lines are tolerated
            if len(values) == width:
                values.append("")
            else:  # short rows read as blanks, extra values are ignored
                values = (values + padding)[: width + 1]
                values[width] = ""
            yield Record(self, values, reader.line_num)
            rows += 1
            if report is not None and rows % PROGRESS_ROWS == 0:
                report(rows)
