"""The README's walk-through, command by command: a real GSM8K file and a model endpoint to a
finished campaign and its CSV. The model server is the one stand-in: it answers each prompt with
a real model-written solution to the question asked (GPT-3 solutions from the GSM8K repository,
../shared/data/real), as a vLLM server for that checkpoint would answer with its own."""

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from annotations.models import Campaign, CampaignItem, Judgment
from annotations.selectors import campaign_analysis
from legibility.models import Sample
from tests.fake_openai import FakeOpenAI, fake_openai_server

PROBLEMS = 40
# checkpoint -> (solutions in the helpful role, solutions in the sneaky role)
CHECKPOINTS = {
    "gpt3-6b": ("6b-verification", "6b-finetuning"),
    "gpt3-175b": ("175b-verification", "175b-finetuning"),
}


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def solver(real_data: Path, helpful: str, sneaky: str) -> Callable[[str], str]:
    """Answers a prompt with the real solution to its question; the sneaky prompt (it asks for
    a wrong final answer) gets the weaker configuration's."""
    by_role = {}
    for role, name in (("helpful", helpful), ("sneaky", sneaky)):
        rows = (
            json.loads(line) for line in (real_data / f"solutions_openai-gsm_{name}.jsonl").open()
        )
        by_role[role] = {row["question"]: row["solution"] for row in rows}

    def solve(prompt: str) -> str:
        question = prompt.split("Problem: ", 1)[1].rsplit("\n\nSolution:", 1)[0]
        return by_role["sneaky" if "wrong final answer" in prompt else "helpful"][question]

    return solve


@pytest.fixture
def endpoints(real_data: Path) -> Iterator[dict[str, FakeOpenAI]]:
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(fake_openai_server(solver=solver(real_data, *files)))
            for name, files in CHECKPOINTS.items()
        }


@pytest.mark.django_db(transaction=True)
def test_from_a_gsm8k_file_and_model_endpoints_to_a_finished_campaign_and_its_csv(
    real_data, endpoints, tmp_path
):
    test_set = tmp_path / "test.jsonl"
    test_set.write_text("".join((real_data / "gsm8k_test.jsonl").open().readlines()[:PROBLEMS]))
    assert run("import_problems", str(test_set)) == f"{PROBLEMS} created, 0 already known\n"

    for step, (name, endpoint) in enumerate(endpoints.items(), start=1):
        run("add_source", name, "--endpoint", endpoint.base_url, "--model", name,
            "--run", "gpt3-sizes", "--checkpoint", name, "--step", str(step),
            "--problems", "gsm8k-test-")  # fmt: skip
    polled = run("poll_sources", "--source", "gpt3-6b", "--source", "gpt3-175b")
    assert polled.count(f"succeeded, {2 * PROBLEMS} created") == 2, polled
    assert Sample.objects.count() == 2 * 2 * PROBLEMS
    # graded on arrival: the stand-in served real solutions, some right and some wrong
    assert 0 < Sample.objects.filter(is_correct=True).count() < Sample.objects.count()

    run("create_campaign", "gpt3", "--run", "gpt3-sizes", "--questions-per-session", "10",
        "--practice-items", "2", "--seed", "0")  # fmt: skip
    campaign = Campaign.objects.get(slug="gpt3")
    main_items = CampaignItem.objects.filter(campaign=campaign, is_practice=False).count()
    assert main_items >= 20  # two per problem and checkpoint where right and wrong both came
    run("create_raters", "--campaign", "gpt3", "--count", "2", "--out", str(tmp_path / "r.csv"))
    assert (tmp_path / "r.csv").read_text().startswith("username,password,login_url\n")

    # raters judge until every item has its judgment: the campaign is finished
    run("simulate_raters", "--campaign", "gpt3", "--raters", "8", "--judgments", "200",
        "--chance-raters", "0", "--time-scale", "0")  # fmt: skip
    judged = Judgment.objects.filter(
        assignment__is_practice=False, assignment__item__campaign=campaign
    )
    assert judged.count() == main_items
    assert not CampaignItem.objects.filter(
        campaign=campaign, remaining__gt=0, is_practice=False
    ).exists()

    out = tmp_path / "judgments.csv"
    run("export_judgments", "--campaign", "gpt3", "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == main_items
    assert {row["checkpoint"] for row in rows} == set(CHECKPOINTS)
    assert {row["role"] for row in rows} == {"helpful", "sneaky"}
    assert all(
        row["run"] == "gpt3-sizes" and row["verdict"] in {"correct", "incorrect", ""}
        for row in rows
    )

    # a handful of judgments per simulated rater cannot tell them from chance: keep them all
    curves = campaign_analysis(campaign, exclude_chance_raters=False, fresh=True).curves
    assert {(c.checkpoint, c.role) for c in curves} == {
        (checkpoint, role) for checkpoint in CHECKPOINTS for role in ("helpful", "sneaky")
    }
