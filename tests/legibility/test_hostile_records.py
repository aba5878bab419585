"""Hostile records: every one is a rejection with its line or index and a reason, and the good
records beside it land, through every entry point (watched directory, push, ingest_samples)."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from legibility.ingest.polling import source_poll
from legibility.ingest.records import RecordError, SampleRecord, record_entry
from legibility.models import IngestRun, Problem, Sample, SampleSource, WatchedFile
from tests.factories import StaffFactory, UserFactory
from tests.legibility.jsonl import jsonl, sample_record

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def hostile_records() -> list[tuple[str, object]]:
    """(what, record): each must be refused with a reason, never sink the batch."""
    return [
        ("role as a list", sample_record(90, role=["helpful"])),
        ("role as an object", sample_record(91, role={"a": 1})),
        ("round of 2^40", sample_record(92, round=2**40)),
        ("sample_index of 2^40", sample_record(93, sample_index=2**40)),
        ("step of 2^70", sample_record(94, step=2**70)),
        ("meta nested 100 deep", sample_record(95, meta={"x": json.loads("[" * 100 + "]" * 100)})),
        ("a lone surrogate in the solution", sample_record(96, solution="18 \ud800 #### 18")),
        ("a lone surrogate in meta", sample_record(97, meta={"note": "\ud800"})),
        ("a right-to-left override", sample_record(98, solution="The answer is \u202e81\u202c")),
        ("a 5 MB question", sample_record(99, question="x" * 5_000_000)),
        ("a 5 MB meta", sample_record(100, meta={"blob": "y" * 5_000_000})),
        ("a null", None),
    ]


GOOD = [sample_record(n) for n in range(10)]


def test_each_hostile_record_is_refused_with_a_reason_by_the_parser():
    for what, record in hostile_records():
        _, entry = record_entry(1, record)
        assert isinstance(entry, RecordError), what
        assert str(entry), what


def test_a_line_nested_100000_deep_is_refused_not_a_recursion_error():
    _, entry = record_entry(1, DEEP.encode())
    assert isinstance(entry, RecordError)
    assert "nested" in str(entry)


def test_zero_width_characters_are_taken_out_so_grader_and_rater_read_the_same():
    _, entry = record_entry(1, sample_record(1, solution="1 + 2 = 3\u200b.\n#### 3\u2060"))
    assert isinstance(entry, SampleRecord)
    assert entry.solution == "1 + 2 = 3.\n#### 3"


def test_a_push_with_hostile_records_stores_the_good_ones_and_names_each_bad_index():
    user = UserFactory(username="trainer")
    user.user_permissions.add(Permission.objects.get(codename="add_sample"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    records = [*GOOD[:5], *(record for _, record in hostile_records()), *GOOD[5:]]

    body = json.dumps({"records": records})  # a lone surrogate travels as its \\ud800 escape
    response = client.post(reverse("api-sample-push"), body, content_type="application/json")

    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["created"] == 10
    assert [r["index"] for r in body["rejections"]] == list(range(5, 5 + len(hostile_records())))
    assert IngestRun.objects.get().status == IngestRun.Status.SUCCEEDED


def test_a_push_body_nested_too_deep_is_a_clear_400():
    user = StaffFactory()
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        reverse("api-sample-push"), '{"records": [' + DEEP + "]}", content_type="application/json"
    )
    assert response.status_code == 400
    assert not IngestRun.objects.filter(status=IngestRun.Status.RUNNING).exists()


def test_a_staff_token_without_the_add_sample_permission_may_push():
    staff = UserFactory(is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    response = client.post(reverse("api-sample-push"), {"records": [GOOD[0]]}, format="json")
    assert response.status_code == 200


def write_hostile_file(path) -> None:
    lines = [json.dumps(record) for record in GOOD[:5]]
    lines += [json.dumps(record) for _, record in hostile_records()]
    lines.append(DEEP)
    lines += [json.dumps(record) for record in GOOD[5:]]
    path.write_text("\n".join(lines) + "\n")


def test_ingest_samples_stores_the_good_lines_beside_hostile_ones_with_one_line_each(tmp_path):
    path = tmp_path / "mixed.jsonl"
    write_hostile_file(path)
    out, err = StringIO(), StringIO()

    call_command("ingest_samples", str(path), stdout=out, stderr=err)

    assert Sample.objects.count() == 10
    assert out.getvalue().startswith("10 created, 0 duplicate, 13 rejected")
    assert "Traceback" not in err.getvalue()
    reported = [line for line in err.getvalue().splitlines() if line.startswith("line ")]
    assert [int(line.split()[1].rstrip(":")) for line in reported] == list(range(6, 19))


def test_a_watched_file_with_hostile_lines_moves_past_them_and_later_files_are_read(tmp_path):
    directory = tmp_path / "watched"
    directory.mkdir()
    write_hostile_file(directory / "a.jsonl")
    (directory / "b.jsonl").write_text(jsonl([sample_record(50)]))
    source = SampleSource.objects.create(name="w", kind="watched_dir", path=str(directory))

    run = source_poll(source_id=source.pk)

    assert run is not None and run.status == IngestRun.Status.SUCCEEDED, run and run.message
    assert Sample.objects.count() == 11
    assert WatchedFile.objects.get(name="a.jsonl").lines == 23
    assert [error["position"] for error in run.errors] == list(range(6, 19))
    again = source_poll(source_id=source.pk)
    assert again is not None and (again.created, again.rejected) == (0, 0)


def test_a_record_the_database_refuses_is_rejected_alone(monkeypatch):
    """Whatever slips past validation and makes the database refuse a batch is isolated: the
    batch is stored again record by record, and only the culprit is rejected."""
    from django.db import DataError

    from legibility.ingest import service, storage
    from legibility.ingest.records import batches_of

    insert = storage._insert_new

    def refuse_poison(samples):
        if any("POISON" in sample.text for sample in samples):
            raise DataError("value out of range for type integer")
        return insert(samples)

    monkeypatch.setattr(storage, "_insert_new", refuse_poison)
    records = [*GOOD[:3], sample_record(77, solution="POISON\n#### 79"), *GOOD[3:]]
    entries = [record_entry(n + 1, record) for n, record in enumerate(records)]
    run, result = service.samples_ingest(via="command", batches=batches_of(entries))

    assert run.status == IngestRun.Status.SUCCEEDED
    assert result.created == 10
    assert [(r.position, "out of range" in r.reason) for r in result.rejections] == [(4, True)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_the_record_parser_answers_any_json_value_with_a_record_or_a_reason(value):
    _, entry = record_entry(0, value)
    assert isinstance(entry, SampleRecord | RecordError)


FIELDS = {
    "run": st.text(max_size=120),
    "checkpoint": st.text(max_size=120),
    "role": st.sampled_from(["helpful", "sneaky", "none", "judge", ""]) | st.integers(),
    "problem_id": st.text(max_size=40),
    "question": st.text(max_size=200),
    "answer": st.text(max_size=20) | st.integers() | st.floats(),
    "solution": st.text(max_size=300),
    "round": st.integers(min_value=-5, max_value=2**64),
    "step": st.integers(min_value=-5, max_value=2**70),
    "sample_index": st.integers(min_value=-5, max_value=2**40),
    "verifier_score": st.floats() | st.none(),
    "meta": st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.fixed_dictionaries({}, optional=FIELDS))
def test_any_record_shaped_value_is_stored_or_rejected_never_an_error(value):
    from legibility.ingest.records import batches_of
    from legibility.ingest.service import samples_ingest

    run, result = samples_ingest(via="command", batches=batches_of([record_entry(1, value)]))
    assert run.status == IngestRun.Status.SUCCEEDED
    assert result.created + result.duplicates + result.rejected == 1


def test_import_problems_refuses_a_question_with_a_direction_override(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_text(json.dumps({"question": "What is 8 \u202e1?", "answer": "#### 18"}) + "\n")
    with pytest.raises(CommandError, match="line 1"):
        call_command("import_problems", str(path))
    assert not Problem.objects.exists()
