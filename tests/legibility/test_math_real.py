"""MATH through the normal path: import_problems reads the MATH test set (5,000 problems, LaTeX
answers, levels and subjects), and ProcessBench's 1,000 model solutions, turned into sample
records, are ingested and graded by equivalence. Our grade agrees with the source's own
final-answer label on at least 98 % of them (unparseable counts as "not correct", as the
source's grader has it). Skips where ../shared/data/real is absent."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from legibility.models import Problem, Sample

pytestmark = pytest.mark.django_db
MIN_AGREEMENT = 0.98


def processbench_records(real_data: Path) -> list[dict[str, object]]:
    """ProcessBench's solutions as sample records: one checkpoint per model."""
    rows = [json.loads(line) for line in (real_data / "solutions_processbench_math.jsonl").open()]
    return [
        {
            "run": "processbench",
            "checkpoint": re.sub(r"[^A-Za-z0-9._-]", "-", row["model"])[:100],
            "role": "none",
            "problem_id": row["problem_id"],
            "solution": row["solution"],
            "sample_index": index,
            "meta": {"source_label": row["source_label"]},
        }
        for index, row in enumerate(rows)
    ]


def test_import_problems_reads_math_with_levels_subjects_and_latex_answers(real_data, tmp_path):
    out, err = StringIO(), StringIO()
    call_command("import_problems", str(real_data / "math_test.jsonl"), stdout=out, stderr=err)

    assert out.getvalue().strip() == "5000 created, 0 already known"
    assert "MATH format" in err.getvalue()
    problem = Problem.objects.get(external_id="math_test_idx_3")
    assert (problem.answer, problem.level, problem.subject) == ("i", 5, "Algebra")
    assert Problem.objects.filter(external_id="test/precalculus/807.json").exists()
    assert Problem.objects.filter(level__isnull=True).count() == 0
    assert Problem.objects.filter(answer="\\dfrac{9}{7}").exists()


def test_processbench_solutions_are_graded_as_their_source_labels_them(real_data, tmp_path):
    call_command("import_problems", str(real_data / "math_test.jsonl"), stdout=StringIO(),
                 stderr=StringIO())  # fmt: skip
    path = tmp_path / "processbench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in processbench_records(real_data)))
    out = StringIO()
    call_command("ingest_samples", str(path), stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("1000 created, 0 duplicate, 0 rejected")

    samples = list(Sample.objects.values_list("grade_status", "is_correct", "meta"))
    agreeing = sum((is_correct is True) == meta["source_label"] for _, is_correct, meta in samples)
    assert agreeing / len(samples) >= MIN_AGREEMENT, agreeing
    statuses = {status for status, _, _ in samples}
    assert statuses <= {"correct", "incorrect", "unparseable"}  # nothing took too long
