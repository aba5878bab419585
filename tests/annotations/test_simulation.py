import random
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Judgment, Rater
from annotations.simulation.rater import RaterProfile, judge

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
    assert "interval width" in out.getvalue() or "not enough judgments" in out.getvalue()


@pytest.mark.django_db
def test_simulate_raters_refuses_an_unknown_campaign():
    with pytest.raises(CommandError, match="no campaign"):
        call_command("simulate_raters", "--campaign", "nope")
