from collections.abc import Sequence

import pytest

from legibility.ingest.records import batches_of, record_entry
from legibility.ingest.service import samples_ingest
from legibility.models import Checkpoint, IngestRun, Problem, Sample, TrainingRun
from tests.legibility.jsonl import sample_record

pytestmark = pytest.mark.django_db


def ingest(records: Sequence[object]):
    entries = (record_entry(index, value) for index, value in enumerate(records, start=1))
    ingest_run, result = samples_ingest(
        via=IngestRun.Via.COMMAND, batches=batches_of(entries, size=3)
    )
    return result, ingest_run


def test_first_sight_creates_run_checkpoint_problem_and_graded_sample():
    result, _ = ingest([sample_record(7)])

    assert (result.created, result.duplicates, result.rejected) == (1, 0, 0)
    sample = Sample.objects.select_related("checkpoint__run", "problem").get()
    assert sample.checkpoint.run.name == "pvg-src"
    assert (sample.checkpoint.name, sample.checkpoint.round, sample.checkpoint.step) == (
        "round-3",
        3,
        12000,
    )
    assert sample.problem.external_id == "p-7"
    assert sample.problem.answer == "9"
    assert sample.is_correct is True
    assert sample.extracted_answer == "9"
    assert sample.verifier_score == 0.8


def test_same_record_twice_stores_one_sample():
    record = sample_record(1)
    first, _ = ingest([record, record])
    again, _ = ingest([record])

    assert (first.created, first.duplicates) == (1, 1)
    assert (again.created, again.duplicates) == (0, 1)
    assert Sample.objects.count() == 1


def test_wrong_and_unreadable_answers_are_graded_as_such():
    ingest(
        [
            sample_record(1, solution="1 + 2 = 4\n#### 4"),
            sample_record(2, solution="I am not sure how to go about this."),
        ]
    )
    grades = dict(Sample.objects.values_list("problem__external_id", "is_correct"))
    assert grades == {"p-1": False, "p-2": None}


def test_bad_records_are_rejected_with_position_and_reason_and_the_rest_lands():
    result, ingest_run = ingest(
        [
            sample_record(1),
            "not an object",
            sample_record(2, role="judge"),
            sample_record(3, solution=""),
            sample_record(4, question=None, answer=None),
            sample_record(5, answer="seven"),
            sample_record(6, round=-1),
            sample_record(7),
        ]
    )

    reasons = {rejection.position: rejection.reason for rejection in result.rejections}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert "JSON object" in reasons[2]
    assert "role 'judge'" in reasons[3]
    assert "solution is missing" in reasons[4]
    assert "unknown" in reasons[5] and "p-4" in reasons[5]
    assert "'seven' is not a number" in reasons[6]
    assert "round must be a non-negative integer" in reasons[7]
    assert result.created == 2
    ingest_run.refresh_from_db()
    assert (ingest_run.created, ingest_run.rejected, ingest_run.done) == (2, 6, 8)
    assert [error["position"] for error in ingest_run.errors] == [2, 3, 4, 5, 6, 7]


def test_known_problem_needs_no_question_but_a_contradicting_answer_is_refused():
    ingest([sample_record(1)])
    result, _ = ingest(
        [
            sample_record(1, question=None, answer=None, solution="1+2 is 3.\n#### 3"),
            sample_record(1, answer="4", solution="It is 4.\n#### 4"),
        ]
    )
    assert result.created == 1
    assert "disagrees with the known answer '3'" in result.rejections[0].reason


def test_a_round_that_contradicts_the_checkpoint_is_refused():
    ingest([sample_record(1, round=3)])
    result, _ = ingest([sample_record(2, round=4)])
    assert "has round 3, the record says 4" in result.rejections[0].reason
    assert Checkpoint.objects.count() == 1


def test_helpful_and_sneaky_solutions_of_one_problem_are_distinct_samples():
    solution = "1 + 2 = 3\n#### 3"
    result, _ = ingest(
        [
            sample_record(1, role="helpful", solution=solution),
            sample_record(1, role="sneaky", solution=solution),
        ]
    )
    assert result.created == 2


def test_counts_stay_right_across_batches_and_runs():
    records = [sample_record(n) for n in range(10)]
    result, _ = ingest(records)
    assert result.created == 10
    assert TrainingRun.objects.count() == 1
    assert Problem.objects.count() == 10


def test_text_with_a_nul_character_is_rejected_and_the_batch_still_lands():
    result, _ = ingest([sample_record(1, solution="6 + 2\x00 = 8\n#### 8"), sample_record(2)])
    assert result.created == 1
    assert result.rejections[0].reason == "solution contains a NUL character"


def test_identical_text_at_two_sample_indices_is_two_samples():
    text = "1 + 2 = 3\n#### 3"
    result, _ = ingest(
        [
            sample_record(1, solution=text, sample_index=0),
            sample_record(1, solution=text, sample_index=1),
        ]
    )
    assert result.created == 2
