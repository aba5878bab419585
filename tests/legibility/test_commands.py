import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from legibility.models import Checkpoint, IngestRun, Problem, Sample, SampleSource
from tests.legibility.jsonl import sample_record, write_jsonl

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def gsm8k_line(question: str, answer: str) -> str:
    return json.dumps({"question": question, "answer": answer}) + "\n"


def test_import_problems_numbers_problems_by_line_and_reads_the_answer_after_hashes(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text(
        gsm8k_line("How many legs have 2 cats?", "2 * 4 = 8\n#### 8")
        + gsm8k_line("How much is 1,000 + 234?", "#### 1,234")
    )

    out, _ = run("import_problems", str(path))

    assert out.strip() == "2 created, 0 already known"
    assert dict(Problem.objects.values_list("external_id", "answer")) == {
        "gsm8k-test-0": "8",
        "gsm8k-test-1": "1234",
    }
    assert run("import_problems", str(path))[0].strip() == "0 created, 2 already known"


def test_import_problems_takes_a_prefix(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(gsm8k_line("q", "#### 3"))
    run("import_problems", str(path), "--prefix", "gsm8k-train-")
    assert Problem.objects.get().external_id == "gsm8k-train-0"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json\n", "line 1: not valid JSON"),
        ('{"question": "q"}\n', "line 1: 'answer' is missing"),
        ('{"question": "q", "answer": "#### many"}\n', "is not a number"),
        ("[1, 2]\n", "expected a JSON object"),
    ],
)
def test_import_problems_refuses_a_bad_file_with_one_line_and_stores_nothing(
    tmp_path, content, reason
):
    path = tmp_path / "bad.jsonl"
    path.write_text(gsm8k_line("fine", "#### 1") + content.replace("line 1", "line 2"))
    with pytest.raises(CommandError, match=reason.replace("line 1", "line 2")):
        run("import_problems", str(path))
    assert Problem.objects.count() == 0


def test_import_problems_reports_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("import_problems", str(tmp_path / "absent.jsonl"))


def test_ingest_samples_prints_counts_and_rejections_with_line_numbers(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [sample_record(1), sample_record(1)])
    with path.open("a") as file:
        file.write("\n{broken\n")

    out, err = run("ingest_samples", str(path))

    assert out.strip() == "1 created, 1 duplicate, 1 rejected"
    assert err.strip().startswith("line 4: not valid JSON")
    ingest_run = IngestRun.objects.get()
    assert (ingest_run.via, ingest_run.status) == ("command", "succeeded")


def test_ingest_samples_fails_when_no_record_could_be_stored(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("{broken\n")
    with pytest.raises(CommandError, match="no record"):
        run("ingest_samples", str(path))


def test_ingest_samples_reports_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("ingest_samples", str(tmp_path / "absent.jsonl"))


def test_real_gsm8k_solutions_ingest_with_the_sources_own_correctness(real_data, tmp_path):
    run("import_problems", str(real_data / "gsm8k_test.jsonl"))
    records = []
    for line in (real_data / "solutions_openai-gsm_6b-finetuning.jsonl").open():
        row = json.loads(line)
        records.append(
            {
                "run": "gpt3-6b",
                "checkpoint": "finetuned",
                "role": "none",
                "problem_id": f"gsm8k-test-{row['problem_id']}",
                "solution": row["solution"],
                "meta": {"source_label": row["source_label"]},
            }
        )
    path = write_jsonl(tmp_path / "real.jsonl", records)

    out, _ = run("ingest_samples", str(path))

    assert out.strip() == "1319 created, 0 duplicate, 0 rejected"
    samples = Sample.objects.all()
    disagreements = [s.pk for s in samples if s.is_correct is not s.meta["source_label"]]
    assert disagreements == []
    assert samples.filter(is_correct=True).count() == 286  # 21.7%, as the source reports


def test_add_source_adds_a_watched_directory_then_changes_it(tmp_path):
    out, _ = run("add_source", "drops", "--directory", str(tmp_path))
    assert out == "added source drops (watched directory of JSONL files)\n"
    out, _ = run("add_source", "drops", "--directory", str(tmp_path), "--every", "10")
    assert out.startswith("changed source drops")
    assert SampleSource.objects.get(name="drops").poll_interval_s == 10


def test_add_source_creates_the_checkpoint_an_endpoint_serves():
    run("add_source", "r3", "--endpoint", "http://127.0.0.1:9/v1", "--model", "prover",
        "--run", "pvg", "--checkpoint", "round-3", "--round", "3", "--helpful-only")  # fmt: skip
    source = SampleSource.objects.get(name="r3")
    assert (str(source.checkpoint), source.checkpoint.round) == ("pvg/round-3", 3)
    assert source.kind == SampleSource.Kind.OPENAI_ENDPOINT and source.sneaky_prompt == ""


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--directory", "/no/such/place"], "no such directory"),
        (["--endpoint", "http://127.0.0.1:9/v1", "--run", "pvg"], "needs --model, --checkpoint"),
        (["--endpoint", "ftp://gpu-box/v1", "--model", "m", "--run", "pvg", "--checkpoint", "c"],
         "base_url: Enter a valid URL"),
        (["--endpoint", "http://gpu/v1", "--model", "m", "--run", "pvg", "--checkpoint", "c",
          "--round", "-1"], "cannot be negative"),
        (["--endpoint", "http://gpu/v1", "--model", "m", "--run", "pvg", "--checkpoint", "c",
          "--round", "99999999999"], "--round must be a non-negative integer up to"),
        (["--endpoint", "http://gpu/v1", "--model", "m", "--run", "bad run!<x>",
          "--checkpoint", "c"], "run 'bad run!<x>' must be letters"),
        (["--endpoint", "http://gpu/v1", "--model", "m", "--run", "pvg",
          "--checkpoint", "round\u202e3"], "changes the text's direction"),
    ],
)  # fmt: skip
def test_add_source_refuses_bad_input_in_one_line_and_keeps_nothing(arguments, reason):
    with pytest.raises(CommandError, match=reason) as refused:
        run("add_source", "bad", *arguments)
    assert "\n" not in str(refused.value)
    assert not SampleSource.objects.exists() and not Checkpoint.objects.exists()


def test_poll_sources_polls_a_named_source_and_fails_when_it_fails(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [sample_record()])
    run("add_source", "drops", "--directory", str(tmp_path))
    run("add_source", "down", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m",
        "--run", "pvg", "--checkpoint", "c", "--problems", "p-")  # fmt: skip
    out, _ = run("poll_sources", "--source", "drops")
    assert out.startswith("drops: succeeded, 1 created")
    with pytest.raises(CommandError, match="polling failed: down"):
        run("poll_sources", "--source", "down")
    with pytest.raises(CommandError, match="no source nope"):
        run("poll_sources", "--source", "nope")
