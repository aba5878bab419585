from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.analysis.rows import Timeouts
from annotations.exports import judgments_csv
from annotations.models import Campaign


class Command(BaseCommand):
    help = "Write a campaign's judgments as CSV, one row per judgment (practice left out)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--out", type=Path, required=True, help="a file, or - for stdout")
        parser.add_argument("--timeouts", choices=[t.value for t in Timeouts], default="wrong")

    def handle(
        self, *args: object, campaign: str, out: Path, timeouts: str, **options: object
    ) -> None:
        found = Campaign.objects.filter(slug=campaign).first()
        if found is None:
            raise CommandError(f"no campaign {campaign!r}")
        lines = judgments_csv(found, timeouts=Timeouts(timeouts))
        if str(out) == "-":
            for line in lines:
                self.stdout.write(line, ending="")
            return
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such directory")
        rows = -1  # the header
        with out.open("w", encoding="utf-8", newline="") as file:
            for line in lines:
                file.write(line)
                rows += 1
        self.stdout.write(f"{rows} judgments written to {out}")
