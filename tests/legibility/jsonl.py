"""Sample JSONL records for tests, in the format of PRODUCT.md."""

import json
from pathlib import Path
from typing import Any


def sample_record(n: int = 0, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run": "pvg-src",
        "checkpoint": "round-3",
        "round": 3,
        "step": 12000,
        "role": "helpful",
        "problem_id": f"p-{n}",
        "question": f"Ann has {n} apples and buys 2 more. How many apples does she have?",
        "answer": str(n + 2),
        "solution": f"She has {n} + 2 = {n + 2} apples.\n#### {n + 2}",
        "verifier_score": 0.8,
        "sample_index": 0,
        "meta": {},
    }
    record.update(fields)
    return record


def jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text(jsonl(records), encoding="utf-8")
    return path
