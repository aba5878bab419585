"""The benchmark scripts keep working: each runs here at a small scale (figures not checked)."""

import os
import re
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


@pytest.mark.django_db
def test_seed_benchmark_fills_a_consistent_installation_at_small_scale():
    require_postgres()
    result = subprocess.run(
        [sys.executable, "bench/seed.py", "--samples", "40000", "--judgments", "5000",
         "--raters", "100", "--no-readme"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "judgments (main): 5,000" in result.stdout
    assert "raters: 100" in result.stdout
    checks = [line for line in result.stdout.splitlines() if line.startswith("  ok: ")]
    assert len(checks) >= 7, result.stdout[-2000:]
    assert "FAILED" not in result.stdout


@pytest.mark.django_db
def test_latency_benchmark_runs_end_to_end_at_small_scale():
    require_postgres()
    result = subprocess.run(
        [sys.executable, "bench/latency.py", "--samples", "40000", "--judgments", "5000",
         "--seed-raters", "100", "--raters", "8", "--seconds", "3", "--single", "10",
         "--no-readme"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "0 client errors, 0 server errors" in result.stdout
    assert "All checks pass." in result.stdout
    stored = re.search(r"([\d,]+) judgments stored, ([\d,]+) answered as stored", result.stdout)
    assert stored and stored[1] == stored[2] and stored[1] != "0"
