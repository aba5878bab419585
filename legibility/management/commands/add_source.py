from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from legibility.ingest.records import RecordError, record_entry
from legibility.models import Checkpoint, SampleSource, TrainingRun


class Command(BaseCommand):
    help = (
        "Add a sample source, or change the one of that name: a watched directory of JSONL "
        "files (--directory), or an OpenAI-compatible endpoint serving one checkpoint "
        "(--endpoint, with --model, --run and --checkpoint). Beat polls it from then on; "
        "`poll_sources --source NAME` polls it now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a slug: letters, digits, - and _")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--directory", type=Path, help="watched directory of *.jsonl files")
        where.add_argument("--endpoint", help="base URL of the API, e.g. http://gpu-box:8000/v1")
        parser.add_argument("--every", type=int, default=60, help="seconds between polls")
        endpoint = parser.add_argument_group("endpoint")
        endpoint.add_argument("--model", default="", help="the model name the server expects")
        endpoint.add_argument("--run", default="", help="training run the checkpoint belongs to")
        endpoint.add_argument("--checkpoint", default="", help="the checkpoint it serves")
        endpoint.add_argument("--round", type=int, default=None)
        endpoint.add_argument("--step", type=int, default=None)
        endpoint.add_argument(
            "--problems", default="", help="generate for problems whose id starts with this"
        )
        endpoint.add_argument("--samples-per-problem", type=int, default=1, help="per role")
        endpoint.add_argument("--api", choices=["chat", "completions"], default="chat")
        endpoint.add_argument("--api-key-env", default="", help="variable holding the API key")
        endpoint.add_argument("--concurrency", type=int, default=4)
        endpoint.add_argument(
            "--helpful-only", action="store_true", help="no sneaky solutions (blank prompt)"
        )

    @transaction.atomic
    def handle(self, *args: object, name: str, directory: Path | None, endpoint: str | None,
               every: int, **options: Any) -> None:  # fmt: skip
        fields: dict[str, Any] = {"poll_interval_s": every, "enabled": True}
        if directory is not None:
            if not directory.is_dir():
                raise CommandError(f"{directory}: no such directory")
            fields |= {"kind": SampleSource.Kind.WATCHED_DIRECTORY, "path": str(directory)}
        else:
            fields |= {"kind": SampleSource.Kind.OPENAI_ENDPOINT, "base_url": endpoint}
            fields |= self._endpoint_fields(options)
        source = SampleSource.objects.filter(name=name).first() or SampleSource(name=name)
        for field, value in fields.items():
            setattr(source, field, value)
        try:
            source.full_clean()
        except ValidationError as error:
            reasons = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
            raise CommandError(reasons) from None
        adding = source.pk is None
        source.save()
        verb = "added" if adding else "changed"
        self.stdout.write(f"{verb} source {source.name} ({source.get_kind_display()})")

    def _endpoint_fields(self, options: dict[str, Any]) -> dict[str, Any]:
        missing = [f"--{key}" for key in ("model", "run", "checkpoint") if not options[key]]
        if missing:
            raise CommandError(f"an endpoint needs {', '.join(missing)}")
        if any((options[key] or 0) < 0 for key in ("round", "step")):
            raise CommandError("--round and --step cannot be negative")
        # the checkpoint's names and place follow the rules of an ingested record's
        probe = {key: options[key] for key in ("run", "checkpoint", "round", "step")}
        _, checked = record_entry(0, {**probe, "problem_id": "-", "solution": "-"})
        if isinstance(checked, RecordError):
            raise CommandError(str(checked).replace("round", "--round").replace("step", "--step"))
        run, _ = TrainingRun.objects.get_or_create(name=options["run"])
        checkpoint, _ = Checkpoint.objects.get_or_create(
            run=run, name=options["checkpoint"],
            defaults={"round": options["round"], "step": options["step"]},
        )  # fmt: skip
        fields: dict[str, Any] = {
            "model": options["model"],
            "checkpoint": checkpoint,
            "problem_prefix": options["problems"],
            "samples_per_problem": options["samples_per_problem"],
            "api_style": options["api"],
            "api_key_env": options["api_key_env"],
            "max_concurrency": options["concurrency"],
        }
        if options["helpful_only"]:
            fields["sneaky_prompt"] = ""
        return fields
