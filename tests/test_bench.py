"""The benchmark scripts keep working: each runs here at a small scale (figures not checked)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, require_postgres, require_redis


@pytest.mark.worker
@pytest.mark.django_db
def test_ingest_benchmark_runs_end_to_end_at_small_scale():
    require_postgres()
    require_redis()
    result = subprocess.run(
        [sys.executable, "bench/ingest.py", "--samples", "2000", "--no-readme"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "| 2,000 |" in result.stdout


@pytest.mark.django_db
def test_analysis_benchmark_runs_end_to_end_at_small_scale():
    require_postgres()
    result = subprocess.run(
        [sys.executable, "bench/analysis.py", "--judgments", "5000", "--no-readme"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "5,000" in result.stdout
