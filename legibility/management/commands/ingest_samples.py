from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legibility.ingest.jsonl import file_batches
from legibility.ingest.service import samples_ingest
from legibility.models import IngestRun

SHOWN_REJECTIONS = 20


class Command(BaseCommand):
    help = "Ingest prover samples from a JSONL file (one record a line; see README)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, path: Path, **options: object) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        _, result = samples_ingest(
            via=IngestRun.Via.COMMAND, batches=file_batches(path), message=str(path)
        )
        for rejection in result.rejections[:SHOWN_REJECTIONS]:
            self.stderr.write(f"line {rejection.position}: {rejection.reason}")
        if result.rejected > SHOWN_REJECTIONS:
            self.stderr.write(f"... and {result.rejected - SHOWN_REJECTIONS} more rejections")
        self.stdout.write(
            f"{result.created} created, {result.duplicates} duplicate, {result.rejected} rejected"
        )
        if result.rejected and not (result.created or result.duplicates):
            raise CommandError(f"no record of {path} could be stored")
