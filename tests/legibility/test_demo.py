import random
from io import StringIO

import pytest
from django.core.management import call_command

from legibility.demo.problems import demo_problems
from legibility.demo.prover import demo_checkpoints, write_solution
from legibility.grading import AnswerStatus, grade
from legibility.models import IngestRun, Sample


def test_demo_problems_have_whole_number_answers_from_their_steps():
    for problem in demo_problems(50, seed=3):
        assert problem.answer >= 0
        for step in problem.steps:
            if step.op == "/":
                assert step.a % step.b == 0, problem
        assert len({p.question for p in demo_problems(50, seed=3)}) > 40


def test_the_graded_correctness_matches_what_the_prover_meant():
    rng = random.Random(0)
    for problem in demo_problems(30):
        for checkpoint in demo_checkpoints():
            for role in ("helpful", "sneaky"):
                text, correct = write_solution(problem, checkpoint, role, rng)
                status = grade(text, str(problem.answer)).status
                assert (status == AnswerStatus.CORRECT) == correct, text


def test_sneaky_solutions_are_mostly_wrong_and_helpful_ones_mostly_right():
    rng = random.Random(1)
    problems = demo_problems(100)
    for checkpoint in demo_checkpoints()[:6]:
        helpful = sum(write_solution(p, checkpoint, "helpful", rng)[1] for p in problems)
        sneaky = sum(write_solution(p, checkpoint, "sneaky", rng)[1] for p in problems)
        assert helpful > 60 and sneaky < 30, (checkpoint, helpful, sneaky)


@pytest.mark.django_db
def test_seed_demo_ingests_through_a_watched_directory(tmp_path):
    out = StringIO()
    call_command("seed_demo", "--problems", "10", "--samples-per-role", "2",
                 "--directory", str(tmp_path), stdout=out)  # fmt: skip
    # 6 rounds x 2 roles + 3 baseline steps, x 10 problems x 2 samples
    assert Sample.objects.count() + int(out.getvalue().split("ingested: ")[1].split()[2]) == 300
    assert IngestRun.objects.get().source.name == "demo-prover"
    assert len(list(tmp_path.glob("*.jsonl"))) == 9
