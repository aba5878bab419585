"""A watched directory: training jobs write ``*.jsonl`` files into it, and each poll reads what
is new. A file is read up to its last newline (a partial last line waits for the next poll);
how far each file was read is stored in the same transaction as the samples it gave, so a
worker killed mid-file resumes exactly where the last stored batch ended."""

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.db import transaction

from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.records import RecordError, SampleRecord, record_from_json_line
from legibility.ingest.service import BATCH_SIZE, Entry, IngestResult, samples_ingest_batch
from legibility.models import IngestRun, SampleSource, WatchedFile

# The first line identifies a file: a file replaced under the same name is read from the start.
HEAD_BYTES = 64 * 1024


def watched_directory_poll(
    *, source: SampleSource, ingest_run: IngestRun, batch_size: int = BATCH_SIZE
) -> IngestResult:
    directory = Path(source.path)
    if not directory.is_dir():
        raise SourceUnavailable(f"directory {directory} does not exist or is not a directory")
    paths = sorted(path for path in directory.glob("*.jsonl") if path.is_file())
    known = {watched.name: watched for watched in WatchedFile.objects.filter(source=source)}
    IngestRun.objects.filter(pk=ingest_run.pk).update(
        total=sum(_unread_bytes(path, known.get(path.name)) for path in paths)
    )
    result = IngestResult()
    for path in paths:
        result.add(_read_file(path, source, ingest_run, known.get(path.name), batch_size))
    return result


def _unread_bytes(path: Path, watched: WatchedFile | None) -> int:
    size = path.stat().st_size
    if watched is None or size < watched.offset:
        return size
    return size - watched.offset


def _read_file(
    path: Path,
    source: SampleSource,
    ingest_run: IngestRun,
    watched: WatchedFile | None,
    batch_size: int,
) -> IngestResult:
    result = IngestResult()
    with path.open("rb") as file:
        inode = os.fstat(file.fileno()).st_ino
        size = os.fstat(file.fileno()).st_size
        head = file.readline(HEAD_BYTES)
        if not head.endswith(b"\n"):
            return result  # not one complete line yet
        head_hash = hashlib.sha256(head).hexdigest()
        if watched is None:
            watched = WatchedFile.objects.create(
                source=source, name=path.name, inode=inode, head_hash=head_hash
            )
        elif watched.inode != inode or watched.head_hash != head_hash or size < watched.offset:
            # replaced or truncated: read it all again; the content hash keeps out duplicates
            watched.inode, watched.head_hash, watched.offset, watched.lines = inode, head_hash, 0, 0
        file.seek(watched.offset)
        for batch, offset, lines in _complete_line_batches(file, watched, batch_size):
            with transaction.atomic():
                result.add(
                    samples_ingest_batch(
                        entries=batch,
                        ingest_run=ingest_run,
                        source=source,
                        progress=offset - watched.offset,
                    )
                )
                WatchedFile.objects.filter(pk=watched.pk).update(
                    inode=inode, head_hash=head_hash, offset=offset, lines=lines
                )
            watched.offset, watched.lines = offset, lines
    return result


def _complete_line_batches(
    file: BinaryIO, watched: WatchedFile, batch_size: int
) -> Iterator[tuple[list[Entry], int, int]]:
    """Batches of (line number, record or error), with the offset and line count after each."""
    offset, lines = watched.offset, watched.lines
    batch: list[Entry] = []
    for raw in iter(file.readline, b""):
        if not raw.endswith(b"\n"):
            break  # a partial last line: the writer has not finished it
        offset += len(raw)
        lines += 1
        if raw.strip():
            batch.append((lines, _parse(raw)))
        if len(batch) >= batch_size:
            yield batch, offset, lines
            batch = []
    if batch or offset != watched.offset:
        yield batch, offset, lines


def _parse(line: bytes) -> SampleRecord | RecordError:
    try:
        return record_from_json_line(line)
    except RecordError as error:
        return error
