import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legibility.ingest.problems import (
    ProblemError,
    ProblemFormat,
    problem_format,
    problem_row,
    problems_import,
)


class Command(BaseCommand):
    help = (
        "Import problems from JSONL in GSM8K's format ('question', 'answer' ending in '#### n') "
        "or MATH's ('problem', 'answer' or a \\boxed{} 'solution', 'level', 'subject'); the "
        "format is told from the first line. Stops at the first bad line, storing nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--prefix",
            help="problem ids are PREFIX<line index> where a line has no id of its own "
            "(default: gsm8k-test- or math-test-)",
        )

    def handle(self, *args: object, path: Path, prefix: str | None, **options: object) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        form: ProblemFormat | None = None
        problems = []
        for index, line in enumerate(path.read_bytes().splitlines()):
            if not line.strip():
                continue
            where = f"line {index + 1}"
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
                raise CommandError(f"{where}: not valid JSON ({error})") from None
            form = form or problem_format(row)
            try:
                problems.append(
                    problem_row(row, index=index, prefix=prefix or form.default_prefix, form=form)
                )
            except ProblemError as error:
                raise CommandError(f"{where}: {error}") from None
        if form is not None:
            self.stderr.write(f"read {len(problems)} problems in {form} format")
        created, known = problems_import(problems=problems)
        self.stdout.write(f"{created} created, {known} already known")
