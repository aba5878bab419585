import json
import os

import pytest

from legibility.ingest.polling import source_poll
from legibility.models import IngestRun, Sample, SampleSource, WatchedFile
from tests.legibility.jsonl import jsonl, sample_record, write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory(tmp_path):
    path = tmp_path / "watched"
    path.mkdir()
    return path


@pytest.fixture
def source(directory):
    return SampleSource.objects.create(
        name="training-out", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(directory)
    )


def poll(source) -> IngestRun:
    ingest_run = source_poll(source_id=source.pk)
    assert ingest_run is not None
    return ingest_run


def test_new_files_and_appended_lines_are_picked_up(source, directory):
    write_jsonl(directory / "a.jsonl", [sample_record(n) for n in range(3)])
    assert poll(source).created == 3

    with (directory / "a.jsonl").open("a") as file:
        file.write(jsonl([sample_record(n) for n in range(3, 5)]))
    write_jsonl(directory / "b.jsonl", [sample_record(n) for n in range(5, 7)])
    run = poll(source)

    assert (run.created, run.duplicates, run.status) == (4, 0, "succeeded")
    assert Sample.objects.count() == 7


def test_a_partial_last_line_waits_for_its_newline(source, directory):
    line = json.dumps(sample_record(1))
    path = directory / "a.jsonl"
    path.write_text(json.dumps(sample_record(0)) + "\n" + line[:40])
    assert poll(source).created == 1

    with path.open("a") as file:
        file.write(line[40:] + "\n")
    assert poll(source).created == 1
    assert Sample.objects.count() == 2


def test_other_files_are_ignored(source, directory):
    (directory / "notes.txt").write_text(jsonl([sample_record(1)]))
    (directory / "partial.jsonl.tmp").write_text(jsonl([sample_record(2)]))
    assert poll(source).created == 0


def test_a_replaced_file_is_read_again_without_duplicates(source, directory):
    path = write_jsonl(directory / "a.jsonl", [sample_record(n) for n in range(3)])
    poll(source)

    replacement = directory / "a.jsonl.new"
    write_jsonl(replacement, [sample_record(n) for n in range(10, 12)] + [sample_record(0)])
    os.replace(replacement, path)
    run = poll(source)

    assert (run.created, run.duplicates) == (2, 1)
    assert Sample.objects.count() == 5


def test_a_truncated_file_is_read_again_without_duplicates(source, directory):
    path = write_jsonl(directory / "a.jsonl", [sample_record(n) for n in range(4)])
    poll(source)

    with path.open("r+") as file:  # same inode, same first line, shorter
        file.truncate(len(jsonl([sample_record(0)])))
        file.seek(0, os.SEEK_END)
        file.write(jsonl([sample_record(20)]))
    run = poll(source)

    assert (run.created, run.duplicates) == (1, 1)
    assert WatchedFile.objects.get().lines == 2


def test_bad_lines_are_reported_with_file_line_numbers(source, directory):
    path = directory / "a.jsonl"
    path.write_text(
        jsonl([sample_record(0)]) + "\n{oops\n" + jsonl([sample_record(1, role="verifier")])
    )
    run = poll(source)

    assert run.created == 1
    assert [error["position"] for error in run.errors] == [3, 4]
    assert "not valid JSON" in run.errors[0]["reason"]


def test_progress_reaches_the_bytes_read(source, directory):
    path = write_jsonl(directory / "a.jsonl", [sample_record(n) for n in range(5)])
    run = poll(source)
    assert run.total == run.done == path.stat().st_size


def test_a_missing_directory_fails_the_run_with_a_clear_message(source, directory):
    directory.rmdir()
    run = poll(source)
    assert run.status == "failed"
    assert "does not exist" in run.message
