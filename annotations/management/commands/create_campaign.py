from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.campaigns import campaign_create
from annotations.models import Campaign, CampaignItem
from legibility.models import TrainingRun


class Command(BaseCommand):
    help = (
        "Create a campaign over every checkpoint of the named runs, choosing items by the "
        "protocol: up to one correct and one incorrect sample per checkpoint, role and problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--run", action="append", required=True, dest="runs", metavar="RUN")
        parser.add_argument("--name", default="")
        parser.add_argument("--time-limit", type=int, default=45, help="seconds per solution")
        parser.add_argument("--judgments-per-item", type=int, default=1)
        parser.add_argument("--questions-per-session", type=int, default=20)
        parser.add_argument("--practice-items", type=int, default=3)
        parser.add_argument("--status", choices=Campaign.Status.values, default="live")
        parser.add_argument("--seed", type=int, help="makes the item choice reproducible")
        parser.add_argument(
            "--exist-ok", action="store_true", help="leave an existing campaign SLUG as it is"
        )

    def handle(
        self,
        *args: object,
        slug: str,
        runs: list[str],
        name: str,
        time_limit: int,
        judgments_per_item: int,
        questions_per_session: int,
        practice_items: int,
        status: str,
        seed: int | None,
        exist_ok: bool,
        **options: object,
    ) -> None:
        found = list(TrainingRun.objects.filter(name__in=runs))
        missing = sorted(set(runs) - {run.name for run in found})
        if missing:
            raise CommandError(f"no training run named {', '.join(missing)}")
        for flag, value in (
            ("--time-limit", time_limit),
            ("--judgments-per-item", judgments_per_item),
            ("--questions-per-session", questions_per_session),
        ):
            if value < 1:
                raise CommandError(f"{flag} must be at least 1")
        if Campaign.objects.filter(slug=slug).exists():
            if exist_ok:
                self.stdout.write(f"campaign {slug} exists already: left as it is")
                return
            raise CommandError(f"a campaign {slug!r} exists already")
        campaign = campaign_create(
            slug=slug,
            runs=found,
            name=name,
            status=status,
            time_limit_s=time_limit,
            judgments_per_item=judgments_per_item,
            questions_per_session=questions_per_session,
            practice_items=max(0, practice_items),
            seed=seed,
        )
        items = CampaignItem.objects.filter(campaign=campaign)
        main = items.filter(is_practice=False).count()
        self.stdout.write(
            f"campaign {campaign.slug}: {campaign.checkpoints.count()} checkpoints, {main} items, "
            f"{items.count() - main} practice items, {len(campaign.balance_keys)} balance keys, "
            f"{campaign.status}"
        )
        if main == 0:
            self.stderr.write(
                "warning: no items: no problem has both a correct and an incorrect sample at "
                "any checkpoint of these runs"
            )
