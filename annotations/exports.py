"""The CSV exports (judgments, the per-checkpoint summary, raters), written as they are read:
memory stays flat however many judgments there are. The dashboard, the API and
``export_judgments`` all stream them through here, with the same switches."""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import QueryDict, StreamingHttpResponse

from annotations.analysis.report import Analysis
from annotations.analysis.rows import Timeouts
from annotations.models import Campaign, Judgment
from annotations.rating.flow import place_in_session
from annotations.selectors import (
    RATER_CORRECT,
    campaign_analysis,
    chance_raters,
    lookups,
    main_judgments,
)

TABLES = ("judgments", "summary", "raters")
CHUNK = 5000  # judgments read per page of the export


@dataclass(frozen=True)
class Switches:
    """What every figure, table and export honours: ?timeouts=wrong|excluded&raters=all."""

    timeouts: Timeouts = Timeouts.WRONG
    exclude_chance_raters: bool = True

    @classmethod
    def from_query(cls, query: QueryDict) -> "Switches":
        """Raises ValueError for an unknown value of ``timeouts``."""
        try:
            timeouts = Timeouts(query.get("timeouts", Timeouts.WRONG))
        except ValueError:
            raise ValueError("timeouts must be 'wrong' or 'excluded'") from None
        return cls(timeouts=timeouts, exclude_chance_raters=query.get("raters") != "all")


def csv_response(campaign: Campaign, table: str, switches: Switches) -> StreamingHttpResponse:
    """A table of the campaign as a streamed CSV download; ``table`` is one of TABLES."""
    if table == "judgments":
        lines = judgments_csv(campaign, timeouts=switches.timeouts)
    else:
        analysis = campaign_analysis(
            campaign,
            timeouts=switches.timeouts,
            exclude_chance_raters=switches.exclude_chance_raters,
        )
        lines = (summary_csv if table == "summary" else raters_csv)(analysis)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-{table}.csv"'
    return response


class _Line:
    """csv.writer's file: hands back each line instead of keeping it."""

    def write(self, text: str) -> str:
        return text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(_plain(value) for value in row)


# A cell starting with one of these is a formula to a spreadsheet: a name such as
# "=HYPERLINK(...)" would run when a researcher opens the export.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value  # shown as text by spreadsheets; numbers are never strings here
    return value


def judgments_csv(campaign: Campaign, *, timeouts: Timeouts = Timeouts.WRONG) -> Iterator[str]:
    return csv_lines(JUDGMENT_COLUMNS, judgment_export_rows(campaign, timeouts=timeouts))


JUDGMENT_COLUMNS = [
    "judgment_id",
    "campaign",
    "rater",
    "sample_id",
    "problem_id",
    "run",
    "checkpoint",
    "round",
    "step",
    "role",
    "sample_is_correct",
    "verdict",
    "rater_correct",
    "timed_out",
    "late",
    "client_ms",
    "hidden_ms",
    "server_ms",
    "issued_at",
    "answered_at",
    "session",
    "position_in_session",
    "excluded_rater",
]


def judgment_export_rows(
    campaign: Campaign, *, timeouts: Timeouts = Timeouts.WRONG
) -> Iterator[list[object]]:
    """One list per judgment in JUDGMENT_COLUMNS order, streamed in chunks from the database."""
    excluded = chance_raters(campaign, timeouts=timeouts)
    judgments = main_judgments(campaign)
    if timeouts == Timeouts.EXCLUDED:
        judgments = judgments.filter(timed_out=False)
    per_session = campaign.questions_per_session
    rows = _in_pages(
        judgments.order_by("pk")
        .annotate(rater_correct=RATER_CORRECT)
        .values_list("pk", *lookups(*JUDGMENT_COLUMNS[2:-3], "position"))
    )
    for pk, rater, *between, issued_at, answered_at, position in rows:
        yield [
            pk, campaign.slug, rater, *between, issued_at.isoformat(), answered_at.isoformat(),
            *place_in_session(position, per_session), rater in excluded,
        ]  # fmt: skip


def _in_pages(rows: QuerySet[Judgment, tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows of a values_list() ordered by pk and starting with it, CHUNK at a time, each page
    a query of its own that starts after the last pk seen. The first row comes at once: a
    server-side cursor outside a transaction is declared WITH HOLD, and PostgreSQL builds the
    whole result before handing over its first row (14.8 s at 1.6 million judgments). Judgments
    are only ever added, so the pages miss nothing that existed when the export began."""
    last_pk = None
    while True:
        page = list((rows if last_pk is None else rows.filter(pk__gt=last_pk))[:CHUNK])
        yield from page
        if len(page) < CHUNK:
            return
        last_pk = page[-1][0]


SUMMARY_COLUMNS = [
    "run",
    "checkpoint",
    "round",
    "step",
    "role",
    "judgments",
    "raters",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "accuracy_on_correct",
    "accuracy_on_correct_low",
    "accuracy_on_correct_high",
    "accuracy_on_incorrect",
    "accuracy_on_incorrect_low",
    "accuracy_on_incorrect_high",
    "timeout_rate",
    "timeout_rate_low",
    "timeout_rate_high",
    "time_to_correct_s",
    "time_to_correct_s_low",
    "time_to_correct_s_high",
    "median_time_s",
    "median_time_s_low",
    "median_time_s_high",
    "timeouts",
    "excluded_raters",
]


def summary_csv(analysis: Analysis) -> Iterator[str]:
    rows = []
    for c in analysis.curves:
        row: list[Any] = [c.run, c.checkpoint, c.round, c.step, c.role, c.judgments, c.raters]
        for estimate in (
            c.accuracy,
            c.accuracy_on_correct,
            c.accuracy_on_incorrect,
            c.timeout_rate,
            c.time_to_correct_s,
            c.median_time_s,
        ):
            row += [_round(estimate.value), _round(estimate.low), _round(estimate.high)]
        row += [analysis.timeouts.value, len(analysis.excluded_raters)]
        rows.append(row)
    return csv_lines(SUMMARY_COLUMNS, rows)


RATER_COLUMNS = [
    "rater",
    "judgments",
    "correct",
    "timeouts",
    "accuracy",
    "p_value_vs_chance",
    "at_chance",
    "excluded",
    "mean_time_s",
    "accuracy_change_per_10_positions",
    "hidden_items",
    "hidden_s",
    "tab_switching",
]


def raters_csv(analysis: Analysis) -> Iterator[str]:
    rows = [
        [
            r.rater,
            r.judgments,
            r.correct,
            r.timeouts,
            _round(r.accuracy),
            _round(r.p_value),
            r.flagged,
            r.rater in analysis.excluded_raters,
            _round(r.mean_time_s),
            _round(r.position_slope),
            r.hidden_items,
            _round(r.hidden_s),
            r.tab_switching,
        ]
        for r in analysis.raters
    ]
    return csv_lines(RATER_COLUMNS, rows)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 5)
