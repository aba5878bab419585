"""Ingest benchmark: 100,000 samples from a JSONL file through a real Celery worker into
PostgreSQL, against PostgreSQL's own COPY of the same rows, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/ingest.py [--samples 100000]

It works in a scratch database of its own (``<name>_bench_ingest``, dropped at the start), prints
the figures and writes them into bench/README.md between the ingest markers.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from report import write_section  # bench/report.py: python puts the script's folder first

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def scratch_database_url() -> str:
    import dj_database_url
    from stack import scratch_database

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("bench/ingest.py needs DATABASE_URL pointing to PostgreSQL")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/ingest.py needs REDIS_URL: the samples go through a real worker")
    # made from the server's maintenance database: DATABASE_URL's own need not exist
    return scratch_database(base, f"{dj_database_url.parse(base)['NAME']}_bench_ingest")


def write_records(path: Path, count: int) -> None:
    """Realistic records: 5 checkpoints x 2 roles x problems x 2 samples, multi-line solutions."""
    per_problem = 5 * 2 * 2
    problems = count // per_problem
    with path.open("w", encoding="utf-8") as file:
        written = 0
        for checkpoint in range(5):
            for role in ("helpful", "sneaky"):
                for problem in range(problems):
                    for index in range(2):
                        a, b, loose = problem % 97 + 3, problem % 13 + 2, problem % 7
                        right = a * b + loose
                        given = right if role == "helpful" or index == 0 else right + 1
                        opening = ("We count", "First count")[index]
                        solution = (
                            f"{opening}: there are {a} boxes with {b} pencils in each.\n"
                            f"So there are {a} * {b} = {a * b} pencils in the boxes.\n"
                            f"Adding the {loose} loose pencils gives {given}.\n"
                            f"(checkpoint {checkpoint} style)\n#### {given}"
                        )
                        record = {
                            "run": "pvg-src", "checkpoint": f"round-{checkpoint}",
                            "round": checkpoint, "role": role,
                            "problem_id": f"bench-{problem}",
                            "question": f"{a} boxes hold {b} pencils each, and {loose} "
                                        "pencils are loose. How many pencils are there?",
                            "answer": str(right), "solution": solution, "sample_index": index,
                            "verifier_score": 0.5, "meta": {"seed": index},
                        }  # fmt: skip
                        file.write(json.dumps(record) + "\n")
                        written += 1
    assert written == count, (written, count)


def run_worker_ingest(directory: Path, env: dict[str, str]) -> tuple[float, int]:
    from legibility.celery import app
    from legibility.ingest.tasks import source_poll_task
    from legibility.models import IngestRun, SampleSource

    source = SampleSource.objects.create(
        name="bench", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(directory),
        enabled=False,  # polled once, by this script, not by beat
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "legibility", "worker", "--pool", "solo",
         "--loglevel", "WARNING", "--purge", "--without-gossip", "--without-mingle",
         "--hostname", f"bench-{os.getpid()}@%h"],
        cwd=REPO, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or worker.poll() is not None:
                sys.exit("the worker did not start")
        started = time.perf_counter()
        source_poll_task.delay(source.pk)
        while True:
            run = IngestRun.objects.filter(source=source).first()
            if run is not None and run.status != IngestRun.Status.RUNNING:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    if run.status != IngestRun.Status.SUCCEEDED:
        sys.exit(f"ingest failed: {run.message}")
    return elapsed, run.created


def run_copy_baseline() -> tuple[float, int]:
    """The same rows, already graded and hashed, loaded with COPY into the emptied table."""
    from django.db import connection

    columns = (
        "checkpoint_id, problem_id, role, text, extracted_answer, is_correct, grade_status, "
        "verifier_score, sample_index, content_hash, source_id, ingest_run_id, meta, created_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM legibility_sample")
        rows = cursor.fetchall()
        copy_rows = [(*row[:12], json.dumps(row[12]), row[13]) for row in rows]
        cursor.execute("TRUNCATE legibility_sample CASCADE")
        started = time.perf_counter()
        with cursor.copy(f"COPY legibility_sample ({columns}) FROM STDIN") as copy:
            for row in copy_rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM legibility_sample")
        (count,) = cursor.fetchone()
    return elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if args.samples % 20:
        sys.exit("--samples must be a multiple of 20")

    url = scratch_database_url()
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "legibility.settings",
        "WATCHED_DIRECTORY_ROOT": tempfile.gettempdir(),  # the file is written there
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        write_records(directory / "samples.jsonl", args.samples)
        size_mb = (directory / "samples.jsonl").stat().st_size / 1e6
        ingest_s, created = run_worker_ingest(directory, env)
    if created != args.samples:
        sys.exit(f"ingest created {created} samples, expected {args.samples}")
    copy_s, copied = run_copy_baseline()

    ingest_rate, copy_rate = created / ingest_s, copied / copy_s
    ratio = ingest_rate / copy_rate
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    section = "\n".join(
        [
            "## Ingest: JSONL through a worker vs COPY",
            "",
            f"Run {when} on {machine}, PostgreSQL and Redis on 127.0.0.1.",
            "Command: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test "
            f"REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/ingest.py --samples "
            f"{args.samples}`",
            "",
            "| path | samples | seconds | samples/s |",
            "|---|---|---|---|",
            f"| watched JSONL file ({size_mb:.0f} MB) → worker: parse, validate, grade, hash, "
            f"store | {created:,} | {ingest_s:.2f} | {ingest_rate:,.0f} |",
            f"| `COPY` of the same rows, already graded (baseline) | {copied:,} | {copy_s:.2f} "
            f"| {copy_rate:,.0f} |",
            "",
            f"Ingest runs at **{ratio:.2f} times** the `COPY` rate (target: at least 0.25). The "
            "ingest time runs from sending the task to the run's end, so it includes the "
            "worker picking the task up.",
        ]
    )
    print(section)
    if not args.no_readme:
        write_section("ingest", section)


if __name__ == "__main__":
    main()
