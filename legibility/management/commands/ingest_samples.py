from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legibility.ingest.records import RecordError, record_from_json_line
from legibility.ingest.service import (
    Entry,
    ingest_run_finish,
    ingest_run_start,
    samples_ingest,
)
from legibility.models import IngestRun

SHOWN_REJECTIONS = 20


class Command(BaseCommand):
    help = "Ingest prover samples from a JSONL file (one record a line; see README)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, path: Path, **options: object) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        ingest_run = ingest_run_start(via=IngestRun.Via.COMMAND)
        try:
            result = samples_ingest(entries=_entries(path), ingest_run=ingest_run)
        except Exception as error:
            ingest_run_finish(ingest_run=ingest_run, failure=f"{type(error).__name__}: {error}")
            raise
        ingest_run_finish(ingest_run=ingest_run, message=str(path))
        for rejection in result.rejections[:SHOWN_REJECTIONS]:
            self.stderr.write(f"line {rejection.position}: {rejection.reason}")
        if result.rejected > SHOWN_REJECTIONS:
            self.stderr.write(f"... and {result.rejected - SHOWN_REJECTIONS} more rejections")
        self.stdout.write(
            f"{result.created} created, {result.duplicates} duplicate, {result.rejected} rejected"
        )
        if result.rejected and not (result.created or result.duplicates):
            raise CommandError(f"no record of {path} could be stored")


def _entries(path: Path) -> Iterator[Entry]:
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                yield number, record_from_json_line(line)
            except RecordError as error:
                yield number, error
