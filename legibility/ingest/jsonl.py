"""JSONL files as batches of entries, numbered by line. A file still being written is read up to
its last newline (a partial last line waits for the next read); a finished file to its end."""

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from legibility.ingest.records import BATCH_SIZE, Batch, Entry, record_entry


def line_batches(
    file: BinaryIO,
    *,
    offset: int = 0,
    lines: int = 0,
    batch_size: int = BATCH_SIZE,
    finished: bool = False,
) -> Iterator[tuple[list[Entry], int, int]]:
    """Batches of entries from byte ``offset`` on (which follows ``lines`` lines), each with
    the offset and line count after it. Blank lines count but give no entry; a batch may be
    empty when it only moves past blank lines."""
    start = offset
    file.seek(offset)
    batch: list[Entry] = []
    for raw in iter(file.readline, b""):
        if not raw.endswith(b"\n") and not finished:
            break  # a partial last line: the writer has not finished it
        offset += len(raw)
        lines += 1
        if raw.strip():
            batch.append(record_entry(lines, raw))
        if len(batch) >= batch_size:
            yield batch, offset, lines
            batch = []
    if batch or offset != start:
        yield batch, offset, lines


def file_batches(path: Path, *, batch_size: int = BATCH_SIZE) -> Iterator[Batch]:
    """A whole file, its last line included, as batches whose progress is in bytes."""
    with path.open("rb") as file:
        total, done = path.stat().st_size, 0
        yield Batch(entries=[], progress=0, total=total)
        for entries, offset, _ in line_batches(file, batch_size=batch_size, finished=True):
            yield Batch(entries=entries, progress=offset - done)
            done = offset
