import time

from django.core.management.base import BaseCommand, CommandParser

from legibility.ingest.polling import source_poll, sources_claim_due


class Command(BaseCommand):
    help = (
        "Poll the sample sources that are due, in this process (what beat and a worker do). "
        "With --watch, keep polling: the way to run sources without Redis."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--watch", action="store_true", help="poll again every few seconds")
        parser.add_argument("--every", type=float, default=5.0, help="seconds between checks")

    def handle(self, *args: object, watch: bool, every: float, **options: object) -> None:
        while True:
            for source_id in sources_claim_due():
                ingest_run = source_poll(source_id=source_id)
                if ingest_run is not None:
                    self.stdout.write(
                        f"{ingest_run.source}: {ingest_run.status}, {ingest_run.created} created, "
                        f"{ingest_run.duplicates} duplicate, {ingest_run.rejected} rejected"
                        + (f" ({ingest_run.message})" if ingest_run.message else "")
                    )
            if not watch:
                return
            time.sleep(every)
