import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from legibility.grading import normalize_number, parse_ground_truth
from legibility.ingest.problems import problems_import
from legibility.ingest.records import MAX_CHARS, RecordError, clean_text


class Command(BaseCommand):
    help = "Import GSM8K-format problems (JSONL with 'question' and 'answer' ending in '#### n')."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--prefix",
            default="gsm8k-test-",
            help="problem ids are PREFIX<line index>, unless a line has its own 'problem_id'",
        )

    def handle(self, *args: object, path: Path, prefix: str, **options: object) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        problems = []
        for index, line in enumerate(path.read_bytes().splitlines()):
            if not line.strip():
                continue
            problems.append(_problem(line, index, prefix))
        created, known = problems_import(problems=problems)
        self.stdout.write(f"{created} created, {known} already known")


def _problem(line: bytes, index: int, prefix: str) -> tuple[str, str, str]:
    where = f"line {index + 1}"
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CommandError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(row, dict):
        raise CommandError(f"{where}: expected a JSON object")
    question, answer = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise CommandError(f"{where}: 'question' is missing")
    if len(question) > MAX_CHARS["question"]:
        raise CommandError(
            f"{where}: 'question' is longer than {MAX_CHARS['question']:,} characters"
        )
    try:
        question = clean_text(question, "question")
    except RecordError as error:
        raise CommandError(f"{where}: {error}") from None
    if not isinstance(answer, str | int | float) or isinstance(answer, bool):
        raise CommandError(f"{where}: 'answer' is missing")
    ground_truth = parse_ground_truth(str(answer))
    if normalize_number(ground_truth) is None:
        raise CommandError(f"{where}: the answer {ground_truth!r} is not a number")
    problem_id = row.get("problem_id")
    if problem_id is None:
        problem_id = f"{prefix}{index}"
    return str(problem_id), question.strip(), ground_truth
