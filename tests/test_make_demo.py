"""`make demo`'s set-up, run command by command as the Makefile has it, on a SQLite file of its
own: the dashboard then has curves of the paper's shape."""

import os
import re
import shlex
import subprocess
import sys
from collections import defaultdict

from tests.conftest import REPO


def recipe(target: str) -> list[list[str]]:
    """The manage.py commands of a Makefile target, as argument lists."""
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert body, f"no target {target}"
    return [
        shlex.split(line.split("manage.py", 1)[1])
        for line in body.group(1).splitlines()
        if "manage.py" in line
    ]


def test_the_demo_set_up_gives_curves_of_the_papers_shape(tmp_path):
    database = tmp_path / "demo.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": "",
           "WATCHED_DIRECTORY_ROOT": str(tmp_path)}  # fmt: skip
    commands = recipe("demo-data")
    assert [c[0] for c in commands] == [
        "migrate",
        "seed_demo",
        "create_campaign",
        "simulate_raters",
    ]
    for command in commands:
        if command[0] == "seed_demo":
            command += ["--directory", str(tmp_path / "watched")]
        done = subprocess.run([sys.executable, "manage.py", *command], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "12 raters judged 720 items" in done.stdout
    assert "95% interval width of accuracy" in done.stdout and "(15 of 15 curves" in done.stdout

    curves = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", (
            "from annotations.exports import campaign_analysis\n"
            "from annotations.models import Campaign\n"
            "a = campaign_analysis(Campaign.objects.get(slug='demo'), fresh=True)\n"
            "for c in a.curves: print(c.run, c.role, c.round, c.step, c.accuracy.value,"
            " c.time_to_correct_s.value, c.judgments)\n"
            "print('excluded', len(a.excluded_raters))\n"
        )],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True,
    ).stdout.split("\n")  # fmt: skip
    accuracy: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for line in curves:
        if line.startswith(("checkability-game", "correctness-only")):
            run, role, _, _, value, _, judgments = line.split()
            accuracy[f"{run} {role}"].append((float(value), int(judgments)))
    helpful, sneaky = accuracy["checkability-game helpful"], accuracy["checkability-game sneaky"]
    baseline = accuracy["correctness-only none"]
    assert len(helpful) == len(sneaky) == 6 and len(baseline) == 3

    # Which rater gets which item depends on how the raters' threads interleave, so the figures
    # vary from run to run (about 40 judgments per point). Over 25 runs: helpful 0.82 pooled
    # (sd 0.03); sneaky rounds 0-1 above rounds 2-5 by 0.18 (sd 0.05); the baseline's last step
    # below its first by 0.36 (sd 0.09); 1 to 3 raters excluded. Each bound below is three or more
    # standard deviations from those means.
    assert pooled(helpful) > 0.7  # helpful solutions stay checkable
    assert pooled(sneaky[:2]) - pooled(sneaky[2:]) > 0.04  # sneaky ones come to fool raters
    assert baseline[-1][0] < baseline[0][0]  # the baseline grows harder to check
    assert 1 <= int(curves[-2].split()[1]) <= 4  # the rater at chance, and few others


def pooled(points: list[tuple[float, int]]) -> float:
    """Accuracy over several points, each weighted by its judgments."""
    return sum(value * judgments for value, judgments in points) / sum(n for _, n in points)
