"""Balance without predictability: in a two-key campaign (correct and incorrect solutions of one
checkpoint) with 20-item sessions, the best predictor of the next item's key, one that knows
the rule and the rater's whole history, is right at most 60 % of the time, while each key's
count stays within 3 of the other's at all times and within 2 at each session's end."""

import random
from collections import Counter

import pytest

from annotations.rating.balance import SESSION_END_SPREAD, SPREAD, eligible_keys
from annotations.rating.flow import RaterStep
from annotations.rating.services import judgment_submit, rater_next

PER_SESSION = 20
KEYS = ["c", "i"]  # a correct and an incorrect solution: what a cheating rater would guess


def simulate(
    rng: random.Random, *, sessions: int, keys: list[str]
) -> list[tuple[dict[str, int], int, str]]:
    """(counts before, items left in the session, key drawn) for each item of one rater."""
    counts: Counter[str] = Counter()
    history = []
    for _ in range(sessions):
        for number in range(1, PER_SESSION + 1):
            left = PER_SESSION - number + 1
            key = rng.choice(eligible_keys(keys, counts, left_in_session=left))
            history.append((dict(counts), left, key))
            counts[key] += 1
    return history


def best_guess_chance(counts: dict[str, int], left: int, keys: list[str]) -> float:
    """The chance that the best guess of the next key is right, for a predictor that knows the
    rule: each eligible key is drawn with equal chance."""
    return 1 / len(eligible_keys(keys, counts, left_in_session=left))


def test_the_best_predictor_of_the_next_items_correctness_is_right_at_most_60_percent():
    rng = random.Random(7)
    chances, hits = [], 0
    for _ in range(400):  # raters
        for counts, left, key in simulate(rng, sessions=3, keys=KEYS):
            chances.append(best_guess_chance(counts, left, KEYS))
            eligible = eligible_keys(KEYS, counts, left_in_session=left)
            hits += key == eligible[0] if len(eligible) == 1 else key == "c"
    exact = sum(chances) / len(chances)
    observed = hits / len(chances)
    assert exact <= 0.60, exact
    assert observed <= 0.61, observed  # 24,000 guesses: within a percent of the exact chance
    assert exact > 0.5  # bounded balance cannot be wholly unpredictable


@pytest.mark.parametrize("keys", [KEYS, ["a", "b", "c"], [f"k{n}" for n in range(8)]])
def test_counts_stay_within_3_at_all_times_and_within_2_at_each_sessions_end(keys):
    rng = random.Random(3)
    for _ in range(200):
        counts: Counter[str] = Counter()
        for index, (_, _, key) in enumerate(simulate(rng, sessions=3, keys=keys), start=1):
            counts[key] += 1
            spread = max(counts[k] for k in keys) - min(counts[k] for k in keys)
            assert spread <= SPREAD
            if index % PER_SESSION == 0:
                assert spread <= SESSION_END_SPREAD


@pytest.mark.django_db
def test_the_scheduler_draws_keys_in_balance_and_not_in_rotation(make_campaign, make_rater):
    campaign = make_campaign(problems=40, checkpoints=1, questions_per_session=20)
    # one role: two keys, the checkpoint's correct and incorrect solutions
    campaign.items.filter(role="sneaky").delete()
    campaign.balance_keys = sorted(set(campaign.items.values_list("balance_key", flat=True)))
    campaign.save()
    rater = make_rater(campaign)
    drawn = []
    step: RaterStep | None = rater_next(rater=rater, rng=random.Random(11))
    while step is not None and step.kind == "task" and len(drawn) < 20:
        drawn.append(step.assignment.item.sample_is_correct)
        _, step = judgment_submit(
            rater=rater, assignment_id=step.assignment.pk, verdict="correct", client_ms=900,
            hidden_ms=0, rng=random.Random(len(drawn)),
        )  # fmt: skip
    assert len(drawn) == 20
    assert abs(drawn.count(True) - drawn.count(False)) <= SESSION_END_SPREAD
    running = [sum(1 if d else -1 for d in drawn[: n + 1]) for n in range(20)]
    assert max(abs(r) for r in running) <= SPREAD
    assert any(drawn[n] == drawn[n + 1] for n in range(19))  # not ICICIC…
