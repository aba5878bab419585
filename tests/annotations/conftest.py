import pytest

from annotations.campaigns import campaign_create, raters_create
from annotations.models import Campaign
from annotations.rating.services import rater_consent
from legibility.models import Role
from tests.factories import CheckpointFactory, ProblemFactory, SampleFactory, TrainingRunFactory

RUN_NAME = "pvg-zeta"  # distinctive names, so the blinding test can search for them
CHECKPOINT_NAMES = ["round-alpha", "round-omega"]


def build_samples(*, problems: int = 12, checkpoints: int = 2, run_name: str = RUN_NAME):
    """For every checkpoint, problem and role: one correct and one incorrect solution."""
    run = TrainingRunFactory(name=run_name)
    checkpoint_rows = [
        CheckpointFactory(
            run=run, name=CHECKPOINT_NAMES[i % 2] + ("" if i < 2 else f"-{i}"), round=i + 7
        )
        for i in range(checkpoints)
    ]
    problem_rows = [
        ProblemFactory(
            question=f"Tom has {n + 3} marbles and wins 4. How many now?", answer=str(n + 7)
        )
        for n in range(problems)
    ]
    for checkpoint in checkpoint_rows:
        for problem in problem_rows:
            for role in (Role.HELPFUL, Role.SNEAKY):
                right = int(problem.answer)
                SampleFactory(
                    checkpoint=checkpoint,
                    problem=problem,
                    role=role,
                    is_correct=True,
                    text=f"{right - 4} + 4 = {right}.\n#### {right}",
                    verifier_score=0.8765,
                )
                SampleFactory(
                    checkpoint=checkpoint,
                    problem=problem,
                    role=role,
                    is_correct=False,
                    text=f"{right - 4} + 4 = {right + 2}.\n#### {right + 2}",
                    verifier_score=0.1234,
                )
    return run


@pytest.fixture
def make_campaign():
    def make(*, problems: int = 12, checkpoints: int = 2, **settings) -> Campaign:
        run = build_samples(problems=problems, checkpoints=checkpoints)
        settings.setdefault("practice_items", 0)
        return campaign_create(slug=settings.pop("slug", "pilot"), runs=[run], seed=1, **settings)

    return make


@pytest.fixture
def make_rater():
    def make(campaign: Campaign, *, consented: bool = True):
        login = raters_create(campaign=campaign, count=1)[0]
        if consented:
            rater_consent(rater=login.rater)
        login.rater.refresh_from_db()
        return login.rater

    return make
