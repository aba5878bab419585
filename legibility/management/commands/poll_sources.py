import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legibility.ingest.polling import source_poll, sources_claim_due
from legibility.models import IngestRun, SampleSource


class Command(BaseCommand):
    help = (
        "Poll the sample sources that are due, in this process (what beat and a worker do). "
        "With --watch, keep polling: the way to run sources without Redis."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--watch", action="store_true", help="poll again every few seconds")
        parser.add_argument("--every", type=float, default=5.0, help="seconds between checks")
        parser.add_argument(
            "--source", action="append", default=[], metavar="NAME",
            help="poll this source now, due or not (repeatable); the others wait",
        )  # fmt: skip

    def handle(
        self, *args: object, watch: bool, every: float, source: list[str], **options: object
    ) -> None:
        named = list(SampleSource.objects.filter(name__in=source).values_list("pk", flat=True))
        if len(named) < len(set(source)):
            known = set(SampleSource.objects.filter(name__in=source).values_list("name", flat=True))
            raise CommandError(f"no source {', '.join(sorted(set(source) - known))}")
        while True:
            failed = [
                str(run.source)
                for run in map(self._poll, named or sources_claim_due())
                if run is not None and run.status == IngestRun.Status.FAILED
            ]
            if not watch:
                if failed:
                    raise CommandError(f"polling failed: {', '.join(failed)}")
                return
            time.sleep(every)

    def _poll(self, source_id: int) -> IngestRun | None:
        ingest_run = source_poll(source_id=source_id)
        if ingest_run is not None:  # None: another process is polling it
            self.stdout.write(
                f"{ingest_run.source}: {ingest_run.status}, {ingest_run.created} created, "
                f"{ingest_run.duplicates} duplicate, {ingest_run.rejected} rejected"
                + (f" ({ingest_run.message})" if ingest_run.message else "")
            )
        return ingest_run
