import json
import random
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from legibility.demo.problems import demo_problems
from legibility.demo.prover import GAME_RUN, demo_checkpoints, write_solution
from legibility.ingest.polling import source_poll
from legibility.ingest.source_checks import directory_problem
from legibility.models import IngestRun, SampleSource

SOURCE_NAME = "demo-prover"


class Command(BaseCommand):
    help = (
        "Write the demo's synthetic prover samples (a checkability game over rounds 0-5, "
        "helpful and sneaky, and a correctness-only baseline) as JSONL into a watched "
        "directory, and ingest them through that directory's sample source."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--problems", type=int, default=100)
        parser.add_argument("--samples-per-role", type=int, default=3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--directory", type=Path, default=Path(settings.BASE_DIR) / "var" / "demo-watched"
        )

    def handle(
        self, *args: object, problems: int, samples_per_role: int, seed: int, directory: Path,
        **options: object,
    ) -> None:  # fmt: skip
        if problems < 1 or samples_per_role < 1:
            raise CommandError("--problems and --samples-per-role must be at least 1")
        refusal = directory_problem(str(directory))
        if refusal:
            raise CommandError(refusal)
        directory.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed)
        written = 0
        for checkpoint in demo_checkpoints():
            path = directory / f"{checkpoint.run}-{checkpoint.name}.jsonl"
            roles = ["helpful", "sneaky"] if checkpoint.run == GAME_RUN else ["none"]
            with path.open("w", encoding="utf-8") as file:
                for problem in demo_problems(problems, seed=seed):
                    for role in roles:
                        for index in range(samples_per_role):
                            text, _ = write_solution(problem, checkpoint, role, rng)
                            record = {
                                "run": checkpoint.run, "checkpoint": checkpoint.name,
                                "round": checkpoint.round, "step": checkpoint.step,
                                "role": role, "problem_id": problem.problem_id,
                                "question": problem.question, "answer": str(problem.answer),
                                "solution": text, "sample_index": index,
                                "meta": {"simulated": True},
                            }  # fmt: skip
                            file.write(json.dumps(record) + "\n")
                            written += 1
        source, _ = SampleSource.objects.update_or_create(
            name=SOURCE_NAME,
            defaults={"kind": SampleSource.Kind.WATCHED_DIRECTORY, "path": str(directory)},
        )
        run = source_poll(source_id=source.pk)
        if run is None:
            raise CommandError("the demo source is being polled elsewhere; try again")
        if run.status != IngestRun.Status.SUCCEEDED:
            raise CommandError(f"the demo's samples could not be ingested: {run.message}")
        self.stdout.write(
            f"{written} samples written to {directory}; ingested: {run.created} created, "
            f"{run.duplicates} duplicate, {run.rejected} rejected"
        )
