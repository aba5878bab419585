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
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")

    def handle(
        self, *args: object, campaign: str, out: Path, timeouts: str, force: bool,
        **options: object,
    ) -> None:  # fmt: skip
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
        if out.exists() and not force:
            raise CommandError(f"{out} exists: choose another file, or --force to overwrite it")
        rows = -1  # the header
        # "x": created here, never an existing file swapped in since the check above
        try:
            with out.open("w" if force else "x", encoding="utf-8", newline="") as file:
                for line in lines:
                    file.write(line)
                    rows += 1
        except FileExistsError:  # a dangling link, or a file made meanwhile
            raise CommandError(f"{out} exists: choose another file, or --force") from None
        self.stdout.write(f"{rows} judgments written to {out}")
