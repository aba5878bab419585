"""Fault drills: the app with a Celery worker killed mid-task, Redis stopped, PostgreSQL
restarted under load, and raters who close the tab, go offline or double-click. Each drill
prints its counts before and after the fault and a PASS or FAIL line, exits non-zero on FAIL,
and writes its own section of bench/README.md. The drills themselves are in bench/drills/, one
module each.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/drill.py all
    .venv/bin/python bench/drill.py worker-kill [--samples 100000]
    .venv/bin/python bench/drill.py redis-outage [--seconds 60] [--raters 20]
    .venv/bin/python bench/drill.py postgres-restart [--down 10] [--raters 20]
    .venv/bin/python bench/drill.py raters [--fast-forward]

Each drill works in a scratch database of its own (``<name>_drill_<drill>`` next to
DATABASE_URL's; the restart drill on a private PostgreSQL cluster it makes with initdb) and runs
the app as deployed (gunicorn with DEBUG off, a Celery worker, beat) over a private
redis-server, so no other Redis consumer can take its tasks. The shared services are never
stopped.
"""

import argparse
import os
import subprocess
import sys
from collections.abc import Callable

from drills import postgres_restart, raters, redis_outage, worker_kill
from drills.common import Drill
from report import write_section  # bench/report.py: python puts the script's folder first
from stack import REPO

DRILLS: dict[str, Callable[[argparse.Namespace], Drill]] = {
    "worker-kill": worker_kill.run,
    "redis-outage": redis_outage.run,
    "postgres-restart": postgres_restart.run,
    "raters": raters.run,
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drill", choices=[*DRILLS, "all"])
    parser.add_argument("--samples", type=int, default=100_000, help="worker-kill: to ingest")
    parser.add_argument("--seconds", type=float, default=60, help="redis-outage: Redis down")
    parser.add_argument("--down", type=float, default=10, help="postgres-restart: seconds down")
    parser.add_argument("--raters", type=int, default=20, help="simulated raters at once")
    parser.add_argument("--time-limit", type=int, default=45, help="raters: seconds per item")
    parser.add_argument(
        "--fast-forward", action="store_true",
        help="raters: move issue times into the past instead of waiting for deadlines",
    )  # fmt: skip
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if args.samples < 2000 or args.samples % 20:
        sys.exit("--samples must be a multiple of 20, at least 2000")
    return args


def main() -> None:
    args = arguments()
    if args.drill == "all":
        failed = []
        for name in DRILLS:  # each in a process of its own: Django is set up once a process
            argv = [sys.executable, __file__, name, *sys.argv[2:]]
            if subprocess.run(argv, cwd=REPO).returncode != 0:
                failed.append(name)
        print(f"drills failed: {', '.join(failed)}" if failed else "all drills PASS")
        sys.exit(1 if failed else 0)

    database = os.environ.get("DATABASE_URL", "")  # before a drill points it at its own
    drill = DRILLS[args.drill](args)
    section = drill.section(
        f"DATABASE_URL={database} .venv/bin/python bench/drill.py {' '.join(sys.argv[1:])}"
    )
    print(section)
    if not args.no_readme:
        write_section(drill.name, section)
    sys.exit(0 if drill.passed else 1)


if __name__ == "__main__":
    main()
