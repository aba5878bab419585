import csv
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from annotations.campaigns import RaterLogin, raters_create
from annotations.models import Campaign
from annotations.rating.login_links import login_path


class Command(BaseCommand):
    help = "Create rater accounts for a campaign; write username,password,login_url to a CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--out", type=Path, help="CSV file to write the logins to")
        parser.add_argument(
            "--print-logins", action="store_true", help="print 'rater login: USER / PASSWORD'"
        )
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="where raters reach the app"
        )

    def handle(
        self,
        *args: object,
        campaign: str,
        count: int,
        out: Path | None,
        print_logins: bool,
        base_url: str,
        **options: object,
    ) -> None:
        found = Campaign.objects.filter(slug=campaign).first()
        if found is None:
            raise CommandError(f"no campaign {campaign!r}")
        if count < 1:
            raise CommandError("--count must be at least 1")
        if out is None and not print_logins:
            raise CommandError("say where the logins go: --out FILE.csv or --print-logins")
        if out is not None and out.exists():
            raise CommandError(f"{out} exists: it may hold passwords; choose another file")
        if out is not None and not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such directory")
        # accounts whose passwords could not be written down are not kept
        with transaction.atomic():
            logins = raters_create(campaign=found, count=count)
            if out is not None:
                _write_logins(out, logins, base_url)
        if print_logins:
            for login in logins:
                self.stdout.write(f"rater login: {login.username} / {login.password}")
        if out is not None:
            self.stdout.write(f"{count} raters for {found.slug} written to {out}")


def _write_logins(out: Path, logins: list[RaterLogin], base_url: str) -> None:
    # readable by its owner only from the moment it exists: it holds passwords
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(["username", "password", "login_url"])
            for login in logins:
                url = base_url.rstrip("/") + login_path(login.rater.user)
                writer.writerow([login.username, login.password, url])
    except BaseException:
        out.unlink(missing_ok=True)
        raise
