"""A watched directory: training jobs write ``*.jsonl`` files into it, and each poll reads what
is new. A file is read up to its last newline (a partial last line waits for the next poll).
Each batch carries the file's position after it, which the ingest service saves in the batch's
own transaction, so a worker killed mid-file resumes exactly where the last stored batch ended.
A file whose identity changed (a new inode, a shorter size, a different first line) is read
again from the start; the content hash keeps out duplicates."""

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.jsonl import line_batches
from legibility.ingest.records import BATCH_SIZE, Batch, FilePosition
from legibility.ingest.source_checks import directory_problem
from legibility.models import SampleSource, WatchedFile

# The first line identifies a file: a file replaced under the same name is read from the start.
HEAD_BYTES = 64 * 1024


def watched_directory_batches(
    source: SampleSource, *, batch_size: int = BATCH_SIZE
) -> Iterator[Batch]:
    """What is new in the directory's files, as batches; the first one says the total bytes."""
    problem = directory_problem(source.path)
    if problem:
        raise SourceUnavailable(f"source {source.name}: {problem}")
    directory = Path(source.path)
    if not directory.is_dir():
        raise SourceUnavailable(f"directory {directory} does not exist or is not a directory")
    paths = sorted(path for path in directory.glob("*.jsonl") if path.is_file())
    known = {watched.name: watched for watched in WatchedFile.objects.filter(source=source)}
    total = sum(_unread_bytes(path, known.get(path.name)) for path in paths)
    yield Batch(entries=[], progress=0, total=total)
    for path in paths:
        yield from _file_batches(path, source, known.get(path.name), batch_size)


def _unread_bytes(path: Path, watched: WatchedFile | None) -> int:
    size = path.stat().st_size
    if watched is None or size < watched.offset:
        return size
    return size - watched.offset


def _file_batches(
    path: Path, source: SampleSource, watched: WatchedFile | None, batch_size: int
) -> Iterator[Batch]:
    with path.open("rb") as file:
        stat = os.fstat(file.fileno())
        head = file.readline(HEAD_BYTES)
        if not head.endswith(b"\n"):
            return  # not one complete line yet
        head_hash = hashlib.sha256(head).hexdigest()
        offset, lines = 0, 0
        if watched is not None and (
            watched.inode == stat.st_ino
            and watched.head_hash == head_hash
            and stat.st_size >= watched.offset
        ):
            offset, lines = watched.offset, watched.lines
        for entries, after, lines_after in line_batches(
            file, offset=offset, lines=lines, batch_size=batch_size
        ):
            position = FilePosition(
                source.pk, path.name, stat.st_ino, head_hash, offset=after, lines=lines_after
            )
            yield Batch(entries=entries, progress=after - offset, position=position)
            offset = after
