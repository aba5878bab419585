"""Problems with their ground truth, imported before the samples that answer them."""

from collections.abc import Iterable

from legibility.models import Problem

INSERT_CHUNK = 2000


def problems_import(*, problems: Iterable[tuple[str, str, str]]) -> tuple[int, int]:
    """Store (external id, question, ground truth) triples; return (created, already known)."""
    rows = list(problems)
    known = set(
        Problem.objects.filter(external_id__in=[pid for pid, _, _ in rows]).values_list(
            "external_id", flat=True
        )
    )
    fresh = [
        Problem(external_id=pid, question=q, answer=a) for pid, q, a in rows if pid not in known
    ]
    Problem.objects.bulk_create(fresh, batch_size=INSERT_CHUNK, ignore_conflicts=True)
    return len(fresh), len(rows) - len(fresh)
