from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.campaigns import CampaignInvalid, CampaignSettings, campaign_create
from annotations.models import Campaign, CampaignItem
from legibility.models import TrainingRun

# the command's flag for each setting it takes, to name it in an error
FLAGS = {
    "time_limit_s": "--time-limit",
    "grace_s": "--grace",
    "judgments_per_item": "--judgments-per-item",
    "questions_per_session": "--questions-per-session",
    "practice_items": "--practice-items",
}


class Command(BaseCommand):
    help = (
        "Create a campaign over every checkpoint of the named runs, choosing items by the "
        "protocol: up to one correct and one incorrect sample per checkpoint, role and problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--run", action="append", required=True, dest="runs", metavar="RUN")
        parser.add_argument("--name", default="", help="for staff only; raters never see it")
        parser.add_argument(
            "--title", default="", help="the study's title as raters see it (default: neutral)"
        )
        parser.add_argument("--time-limit", type=int, default=45, help="seconds per solution")
        parser.add_argument("--grace", type=int, default=5, help="seconds an answer may be late")
        parser.add_argument("--judgments-per-item", type=int, default=1)
        parser.add_argument("--questions-per-session", type=int, default=20)
        parser.add_argument("--practice-items", type=int, default=3)
        parser.add_argument("--status", choices=Campaign.Status.values, default="live")
        parser.add_argument("--seed", type=int, help="makes the item choice reproducible")
        parser.add_argument(
            "--exist-ok", action="store_true", help="leave an existing campaign SLUG as it is"
        )

    def handle(self, *args: object, slug: str, runs: list[str], **options: object) -> None:
        found = list(TrainingRun.objects.filter(name__in=runs))
        missing = sorted(set(runs) - {run.name for run in found})
        if missing:
            raise CommandError(f"no training run named {', '.join(missing)}")
        if Campaign.objects.filter(slug=slug).exists():
            if options["exist_ok"]:
                self.stdout.write(f"campaign {slug} exists already: left as it is")
                return
            raise CommandError(f"a campaign {slug!r} exists already")
        settings = CampaignSettings(
            name=str(options["name"]),
            public_title=str(options["title"]),
            status=str(options["status"]),
            time_limit_s=_number(options["time_limit"]),
            grace_s=_number(options["grace"]),
            judgments_per_item=_number(options["judgments_per_item"]),
            questions_per_session=_number(options["questions_per_session"]),
            practice_items=_number(options["practice_items"]),
        )
        seed = options["seed"]
        try:
            campaign = campaign_create(
                slug=slug, runs=found, seed=seed if isinstance(seed, int) else None, **settings
            )
        except CampaignInvalid as error:
            flag = FLAGS.get(error.setting)
            message = str(error)
            raise CommandError(
                message.replace(error.setting, flag, 1) if flag else message
            ) from None
        self._report(campaign)

    def _report(self, campaign: Campaign) -> None:
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


def _number(value: object) -> int:
    assert isinstance(value, int)  # argparse made it one
    return value
