import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.timezone import now as real_now

from annotations.models import Judgment, Rater
from annotations.simulation.rater import RaterProfile, judge
from legibility.demo.problems import demo_problems
from legibility.demo.prover import GAME_RUN, Checkpoint, demo_checkpoints, write_solution

QUESTION = "Ana bakes 4 trays of 12 muffins and sells 6. How many are left?"


def verdicts(solution: str, n: int = 400) -> float:
    rng = random.Random(0)
    profile = RaterProfile(care=0.9)
    return sum(judge(QUESTION, solution, profile, rng).verdict == "correct" for _ in range(n)) / n


def test_a_visible_wrong_sum_is_caught_more_often_than_a_misread_number():
    right = "Ana bakes 4 * 12 = 48 muffins.\nThen 48 - 6 = 42 are left.\n#### 42"
    wrong_sum = "Ana bakes 4 * 12 = 48 muffins.\nThen 48 - 6 = 40 are left.\n#### 40"
    misread = "Ana bakes 4 * 11 = 44 muffins.\nThen 44 - 6 = 38 are left.\n#### 38"
    assert verdicts(right) > 0.8
    assert verdicts(wrong_sum) < verdicts(misread) < verdicts(right)


def test_a_chance_rater_guesses():
    rng = random.Random(1)
    profile = RaterProfile(care=0.9, at_chance=True)
    said = [judge(QUESTION, "4 * 12 = 50\n#### 44", profile, rng).verdict for _ in range(400)]
    assert 0.4 < said.count("correct") / 400 < 0.6


@pytest.mark.django_db(transaction=True)
def test_simulated_raters_judge_through_http_and_report_interval_widths(make_campaign):
    campaign = make_campaign(problems=8, practice_items=1, questions_per_session=5)
    out = StringIO()
    arguments = ["--campaign", campaign.slug, "--raters", "3", "--judgments", "6",
                 "--concurrency", "2", "--time-scale", "0"]  # fmt: skip
    call_command("simulate_raters", *arguments, stdout=out)

    assert Rater.objects.filter(campaign=campaign).count() == 3
    main = Judgment.objects.filter(assignment__is_practice=False)
    assert main.count() == 3 * 5  # the practice item, then one session of 5 questions each
    assert "raters judged 18 items" in out.getvalue()
    # 15 judgments over 4 curves: too few to say how wide their intervals would be
    assert "not enough judgments for intervals yet (fewer than 10" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_in_process_the_app_records_the_simulated_times_not_the_shortened_waits(make_campaign):
    campaign = make_campaign(problems=8, practice_items=0, questions_per_session=8)
    started = timezone.now()
    arguments = ["--campaign", campaign.slug, "--raters", "2", "--judgments", "4",
                 "--chance-raters", "0", "--time-scale", "0.001"]  # fmt: skip
    call_command("simulate_raters", *arguments, stdout=StringIO())
    finished = timezone.now()

    judgments = list(Judgment.objects.all())
    assert len(judgments) == 8
    # a simulated read takes 10 s or more; the raters waited a thousandth of that
    assert min(j.server_ms for j in judgments) > 5000
    assert all(abs(j.client_ms - j.server_ms) < 1000 for j in judgments)
    assert (finished - started).total_seconds() < sum(j.server_ms for j in judgments) / 1000 / 4
    # the simulated sessions are placed before the command ran, never in the future
    assert all(j.answered_at < started for j in judgments)
    assert timezone.now is real_now  # the real clock is back


@pytest.mark.django_db
def test_simulate_raters_refuses_an_unknown_campaign():
    with pytest.raises(CommandError, match="no campaign"):
        call_command("simulate_raters", "--campaign", "nope")


def test_on_the_demo_prover_the_simulated_raters_draw_the_papers_curves():
    """Per checkpoint: accuracy and mean time to a correct verdict, as the paper reports them."""
    rng = random.Random(2)
    problems = demo_problems(400, seed=5)

    def measure(checkpoint: Checkpoint, role: str) -> tuple[float, float]:
        right, times = 0, []
        for problem in problems:
            text, correct = write_solution(problem, checkpoint, role, rng)
            profile = RaterProfile(care=rng.uniform(0.55, 0.95))
            judgement = judge(problem.question, text, profile, rng)
            if (judgement.verdict == "correct") == correct:
                right += 1
                times.append(judgement.seconds)
        return right / len(problems), sum(times) / len(times)

    game = [c for c in demo_checkpoints() if c.run == GAME_RUN]
    baseline = [c for c in demo_checkpoints() if c.run != GAME_RUN]
    helpful = [measure(c, "helpful") for c in (game[0], game[-1])]
    sneaky = [measure(c, "sneaky") for c in (game[0], game[-1])]
    terse = [measure(c, "none") for c in (baseline[0], baseline[-1])]
    assert helpful[1][0] > helpful[0][0]  # helpful: easier to check ...
    assert helpful[1][1] < helpful[0][1] < helpful[1][1] + 5  # ... and a little quicker
    assert 20 < helpful[1][1] < 35  # seconds, as in the paper (about 27)
    assert sneaky[1][0] < sneaky[0][0] - 0.15  # sneaky: errors get past the raters
    assert terse[1][0] < terse[0][0] - 0.04  # baseline: harder to follow ...
    assert terse[1][1] > terse[0][1] - 2  # ... and no quicker to judge
