import random

from hypothesis import given
from hypothesis import strategies as st

from annotations.designs.verdict import Candidate, select_main_items, select_practice_items


def candidate(sample_id, problem, checkpoint=1, role="helpful", correct=True):
    return Candidate(sample_id, problem, checkpoint, role, correct)


def test_one_correct_and_one_incorrect_per_checkpoint_role_and_problem():
    candidates = [
        candidate(1, 10, correct=True), candidate(2, 10, correct=True),
        candidate(3, 10, correct=False), candidate(4, 10, correct=False),
        candidate(5, 10, role="sneaky", correct=False),
    ]  # fmt: skip
    chosen = select_main_items(candidates, rng=random.Random(0))
    cells = sorted((c.role, c.sample_is_correct) for c in chosen)
    assert cells == [("helpful", False), ("helpful", True), ("sneaky", False)]


def test_problems_all_correct_or_all_incorrect_at_a_checkpoint_are_left_out():
    candidates = [
        candidate(1, 10, correct=True), candidate(2, 10, role="sneaky", correct=True),
        candidate(3, 11, correct=False), candidate(4, 11, role="sneaky", correct=False),
        candidate(5, 12, checkpoint=2, correct=True), candidate(6, 12, checkpoint=2, correct=False),
    ]  # fmt: skip
    chosen = select_main_items(candidates, rng=random.Random(0))
    assert {c.sample_id for c in chosen} == {5, 6}


candidates_strategy = st.lists(
    st.builds(
        Candidate,
        sample_id=st.integers(1, 10_000),
        problem_id=st.integers(1, 8),
        checkpoint_id=st.integers(1, 3),
        role=st.sampled_from(["helpful", "sneaky"]),
        sample_is_correct=st.booleans(),
    ),
    unique_by=lambda c: c.sample_id,
)


@given(candidates_strategy, st.integers(0, 2**32))
def test_selection_obeys_the_protocol_for_any_samples(candidates, seed):
    chosen = select_main_items(candidates, rng=random.Random(seed))
    keys = [(c.checkpoint_id, c.role, c.problem_id, c.sample_is_correct) for c in chosen]
    assert len(keys) == len(set(keys)), "at most one sample per cell and problem"
    for item in chosen:
        at_checkpoint = {
            c.sample_is_correct
            for c in candidates
            if (c.checkpoint_id, c.problem_id) == (item.checkpoint_id, item.problem_id)
        }
        assert at_checkpoint == {True, False}
    # and nothing eligible was missed
    for c in candidates:
        both = {
            d.sample_is_correct
            for d in candidates
            if (d.checkpoint_id, d.problem_id) == (c.checkpoint_id, c.problem_id)
        }
        if both == {True, False}:
            assert (c.checkpoint_id, c.role, c.problem_id, c.sample_is_correct) in keys


def test_practice_items_alternate_correctness_on_distinct_problems_outside_the_main_ones():
    candidates = [candidate(i, 100 + i // 2, correct=i % 2 == 0) for i in range(10)]
    main = [candidates[0], candidates[1]]  # problem 100
    practice = select_practice_items(candidates, main, count=4, rng=random.Random(3))
    assert [c.sample_is_correct for c in practice] == [True, False, True, False]
    assert len({c.problem_id for c in practice}) == 4
    assert 100 not in {c.problem_id for c in practice}
