"""The layout tells the architecture, and keeps telling it: the dependency runs one way, pure
modules import no views or HTTP, the API does not reach into the dashboard's views, and no app
module or function grows past the size a reviewer can hold."""

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

APPS = ("legibility", "annotations")
# statistics, grading, scheduling and flow rules: no views, no HTTP, no requests
PURE = [
    "legibility/grading.py",
    "legibility/ingest/records.py",
    "annotations/rating/flow.py",
    "annotations/designs/verdict.py",
    *(str(path.relative_to(REPO)) for path in (REPO / "annotations/analysis").glob("*.py")),
]
WEB = ("django.http", "django.shortcuts", "django.views", "rest_framework", "django_htmx")


def app_modules() -> list[Path]:
    return [
        path
        for app in APPS
        for path in (REPO / app).rglob("*.py")
        if "migrations" not in path.parts
    ]


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_prover_side_never_imports_the_human_side():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "legibility").rglob("*.py")
        if any(name.startswith("annotations") for name in imports_of(path))
    ]
    assert offenders == []


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_views_and_no_http(module):
    found = imports_of(REPO / module)
    assert not {name for name in found if name.startswith(WEB) or ".views" in name}


def test_the_api_does_not_import_the_dashboards_views():
    for path in (REPO / "annotations/api").glob("*.py"):
        assert not {name for name in imports_of(path) if name.startswith("annotations.dashboard")}


def test_ingest_readers_hand_batches_to_the_service_without_importing_it():
    for reader in ("watched_directory.py", "endpoint.py", "jsonl.py"):
        found = imports_of(REPO / "legibility/ingest" / reader)
        assert "legibility.ingest.service" not in found, reader


def test_no_app_module_over_400_lines_and_no_function_over_60():
    long = []
    for path in app_modules():
        source = path.read_text()
        if len(source.splitlines()) > 400:
            long.append(f"{path.relative_to(REPO)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {lines}")
    assert long == []


def test_no_benchmark_function_over_80_lines():
    long = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.name}"
        for path in (REPO / "bench").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []
