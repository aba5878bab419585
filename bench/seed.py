"""A realistic large installation, written with COPY in minutes: 3 training runs, their
checkpoints, problems and samples, one live campaign whose items follow the protocol, and raters
with their practice, assignments and judgments, part of the campaign's capacity still free.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/seed.py \\
        [--samples 1000000] [--judgments 1600000] [--raters 1000] [--database NAME]

It drops and recreates the scratch database NAME (default ``<name>_bench_seed``; the name must
contain ``bench``) on DATABASE_URL's server, migrates it, fills it, checks the campaign's
integrity, prints how long it took and the row counts, and writes them into bench/README.md
between the seed markers. The other benchmarks seed their own scratch databases through
``seed_scratch``, which runs this script in a child process; tests call ``seed`` itself.
"""

import argparse
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SLUG = "bench"
RUNS = ("game-seed-1", "game-seed-2", "game-seed-3")
ROLES = ("helpful", "sneaky")
PRACTICE = 3
PER_SESSION = 20
TIME_LIMIT_S, GRACE_S = 45, 5
TIMEOUT_SHARE = 0.03
CHANCE_RATER_SHARE = 0.03
# of main assignments: pages closed before answering, swept, recorded as their rater's timeout
EXPIRED_SHARE = 0.01
OPEN_RATER_SHARE = 0.02  # raters with an item on screen right now
ITEM_GAP_S = 60  # one item a minute within a session: longer than the limit plus grace
EXPIRY_GAP_S = 5 * 60  # after an expired item: the sweep takes it only past grace + 60 s
SESSION_GAP_S = 4 * 60 * 60
SEED = 0


@dataclass(frozen=True)
class Shape:
    """What to seed. Problems follow from the samples: every checkpoint has
    ``samples_per_cell`` samples per role on every problem."""

    samples: int = 1_000_000
    judgments: int = 1_600_000  # main judgments; each rater's practice ones come on top
    raters: int = 1000
    checkpoints: int = 20  # over the 3 runs, the first runs taking one more when uneven
    samples_per_cell: int = 5

    @property
    def problems(self) -> int:
        return self.samples // (self.checkpoints * len(ROLES) * self.samples_per_cell)

    @property
    def cube(self) -> tuple[int, int, int, int]:
        """The samples' axes: checkpoint, role, problem, sample."""
        return (self.checkpoints, len(ROLES), self.problems, self.samples_per_cell)

    def sample_index(self, c: Any, r: Any, p: Any, s: Any) -> Any:
        """A sample's index in the flattened cube (its id less one), of numbers or arrays."""
        return ((c * len(ROLES) + r) * self.problems + p) * self.samples_per_cell + s

    def arguments(self) -> list[str]:
        return [
            "--samples", str(self.samples), "--judgments", str(self.judgments),
            "--raters", str(self.raters), "--checkpoints", str(self.checkpoints),
            "--samples-per-cell", str(self.samples_per_cell),
        ]  # fmt: skip


# --- scratch databases ------------------------------------------------------------------------


def scratch_name(suffix: str) -> str:
    """``<DATABASE_URL's name>_bench_<suffix>``: a database of the script's own."""
    import dj_database_url

    from bench.stack import base_database_url

    return f"{dj_database_url.parse(base_database_url())['NAME']}_bench_{suffix}"


def scratch_url(name: str) -> str:
    from bench.stack import base_database_url

    return base_database_url().rsplit("/", 1)[0] + "/" + name


def create_database(name: str) -> str:
    """Drop and create the scratch database; return its URL."""
    from bench.stack import base_database_url, scratch_database

    if "bench" not in name:
        sys.exit(f"refusing to drop {name!r}: a scratch database's name contains 'bench'")
    return scratch_database(base_database_url(), name)


def seed_scratch(name: str, shape: Shape) -> float:
    """Create, migrate and seed the scratch database in a child process (so the caller's heap
    stays clean); return the seconds it took."""
    started = time.perf_counter()
    command = [sys.executable, __file__, "--database", name, "--no-readme", *shape.arguments()]
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - started


# --- what to write: every row computed in numpy ------------------------------------------------
#
# The seed draws every random number from one generator in a fixed order, so the same Shape
# gives the same rows; the steps below run in that order.


def stamps(microseconds: np.ndarray) -> list[str]:
    return list(np.datetime_as_string(microseconds.astype("datetime64[us]"), timezone="UTC"))


def checkpoint_rounds(shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """Each checkpoint's round and run: the first run's checkpoints, then the next run's."""
    per_run = [
        shape.checkpoints // len(RUNS) + (i < shape.checkpoints % len(RUNS))
        for i in range(len(RUNS))
    ]
    rounds = np.concatenate([np.arange(n) for n in per_run])
    run_of = np.repeat(np.arange(len(RUNS)), per_run)
    return rounds, run_of


def sample_correctness(shape: Shape, rounds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whether each sample is correct, over the cube (checkpoint, role, problem, sample): by role
    and round (helpful solutions get more often right, sneaky ones less), and by how easy the
    problem is."""
    base = np.stack([0.55 + 0.05 * rounds, 0.30 - 0.03 * rounds], axis=1).clip(0.05, 0.95)
    easiness = rng.normal(0, 1.2, shape.problems)
    logit = np.log(base / (1 - base))[:, :, None, None] + easiness[None, None, :, None]
    return rng.random(shape.cube) < 1 / (1 + np.exp(-logit))


@dataclass(frozen=True)
class Items:
    """The campaign's main items, item id i + 1 at index i: its checkpoint, role and problem (as
    indexes), its kind (0: a correct sample, 1: an incorrect one) and its sample's index."""

    checkpoint: np.ndarray
    role: np.ndarray
    problem: np.ndarray
    kind: np.ndarray
    sample: np.ndarray
    mixed: np.ndarray  # (checkpoint, problem): samples both correct and incorrect

    @property
    def correct(self) -> np.ndarray:
        return self.kind == 0

    def __len__(self) -> int:
        return len(self.checkpoint)


def main_items(shape: Shape, sample_correct: np.ndarray, rng: np.random.Generator) -> Items:
    """The items the protocol gives: a (checkpoint, problem) with both kinds of sample gives one
    random sample of every (role, correctness) it has. This is the rule of
    annotations.designs.verdict.select_main_items, mirrored in numpy: that function takes
    candidates one by one, too slow for a million samples."""
    mixed = np.asarray(sample_correct.any(axis=(1, 3)) & ~sample_correct.all(axis=(1, 3)))
    keys = rng.random(shape.cube)
    matches = np.stack([sample_correct, ~sample_correct], axis=3)  # (c, r, p, kind, s)
    picked = np.where(matches, keys[:, :, :, None, :], -1.0).argmax(axis=4)
    exists = matches.any(axis=4) & mixed[:, None, :, None]
    c, r, p, kind = np.nonzero(exists)
    return Items(c, r, p, kind, shape.sample_index(c, r, p, picked[c, r, p, kind]), mixed)


def sessions_of(positions: np.ndarray) -> np.ndarray:
    """The session of each main-item position: the app's place_in_session, whose arithmetic
    works on arrays as it does on one int."""
    from annotations.rating.flow import place_in_session

    session, _ = place_in_session(cast(Any, positions), PER_SESSION)
    return cast(np.ndarray, session)


class PracticeItem(NamedTuple):
    sample: int  # the sample's index
    problem: int
    checkpoint: int
    role: int
    correct: bool


def practice_items(shape: Shape, sample_correct: np.ndarray, items: Items) -> list[PracticeItem]:
    """Samples no main item uses, alternating correct and incorrect, on distinct problems,
    problems without main items first: select_practice_items's order (in numpy, as above),
    without its shuffle."""
    used = np.zeros(sample_correct.size, bool)
    used[items.sample] = True
    unused = ~used.reshape(shape.cube)
    practice: list[PracticeItem] = []
    for k in range(PRACTICE):
        want = k % 2 == 0
        found = np.argwhere(unused & (sample_correct == want))
        found = found[np.argsort(np.asarray(items.mixed.any(axis=0))[found[:, 2]], kind="stable")]
        taken = {item.problem for item in practice}
        for c, r, p, s in found.tolist():
            if p not in taken:
                practice.append(PracticeItem(shape.sample_index(c, r, p, s), p, c, r, want))
                break
        else:
            sys.exit("no sample is left over for practice: raise --samples-per-cell")
    return practice


@dataclass
class MainAssignments:
    """The raters' main assignments, rater by rater, each rater's in the order they were issued;
    ``first``, ``issued_n`` and ``start_us`` are per rater."""

    rater: np.ndarray
    problem: np.ndarray
    sequence: np.ndarray  # the rater's k-th assignment, from 0
    is_open: np.ndarray
    is_expired: np.ndarray
    first: np.ndarray  # the index of the rater's first assignment
    issued_n: np.ndarray  # the rater's main assignments: judged, expired, and the one open
    # set by issue_times and items_handed_out
    position: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    issued_us: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    start_us: np.ndarray = field(default_factory=lambda: np.empty(0, int))
    item: np.ndarray = field(default_factory=lambda: np.empty(0, int))

    @property
    def is_closed(self) -> np.ndarray:
        """Answered, timed out, or expired (which the sweep recorded as a timeout)."""
        return ~self.is_open

    def __len__(self) -> int:
        return len(self.rater)


def raters_problems(
    shape: Shape, items: Items, practice: list[PracticeItem], rng: np.random.Generator
) -> MainAssignments:
    """The raters' problems: distinct per rater, never a practice problem; each assignment is
    judged, or expired (its page closed, and the sweep recorded it as the rater's timeout), or
    the one open now. The judgments, expired ones included, add up to ``shape.judgments``."""
    raters = shape.raters
    items_of_problem = np.bincount(items.problem, minlength=shape.problems)
    eligible = np.flatnonzero(items_of_problem > 0)
    eligible = eligible[~np.isin(eligible, [item.problem for item in practice])]
    closed_n = np.full(raters, shape.judgments // raters)
    closed_n[: shape.judgments % raters] += 1
    open_n = (rng.random(raters) < OPEN_RATER_SHARE).astype(int)
    expired_n = rng.binomial(closed_n, EXPIRED_SHARE)
    total_n = closed_n + open_n
    if total_n.max() > len(eligible):
        sys.exit(
            f"{total_n.max():,} problems a rater, only {len(eligible):,} have items: "
            "raise --samples or --raters"
        )
    # a problem is drawn in proportion to its items (an exponential race: weighted sampling
    # without replacement), so its raters fit into its items' share of the judgments
    columns = np.arange(len(eligible))
    race = rng.exponential(size=(raters, len(eligible))) / items_of_problem[eligible]
    order = np.argsort(race, axis=1)
    taken_mask = columns[None, :] < total_n[:, None]
    rater = np.repeat(np.arange(raters), total_n)
    sequence = np.broadcast_to(columns, (raters, len(eligible)))[taken_mask]
    first = np.concatenate([[0], np.cumsum(total_n)[:-1]])
    is_open = (open_n[rater] == 1) & (sequence == total_n[rater] - 1)
    # expired: a random choice of each rater's closed assignments
    ranked = np.lexsort((np.where(is_open, 2.0, rng.random(len(rater))), rater))
    rank = np.empty(len(rater), int)
    rank[ranked] = np.arange(len(rater)) - first[rater[ranked]]
    is_expired = ~is_open & (rank < expired_n[rater])
    return MainAssignments(
        rater, eligible[order[taken_mask]], sequence, is_open, is_expired, first,
        issued_n=total_n,
    )  # fmt: skip


def issue_times(
    main: MainAssignments, now_us: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each main assignment's position and issue time, and each rater's start: one item a minute
    within a session, a longer gap after an expired item and between sessions; the open items
    issued just now. The position is the app's: the rater's main items issued before, expired
    ones included, plus one."""
    position = main.sequence + 1
    session = sessions_of(position)
    previous = np.arange(len(main)) - 1
    new_session = (main.sequence > 0) & (session > session[previous])
    gap_s = np.where(main.is_expired[previous], EXPIRY_GAP_S, ITEM_GAP_S)
    gap_s = np.where(new_session, SESSION_GAP_S, gap_s)
    gap_s[main.sequence == 0] = 0
    elapsed_s = np.cumsum(gap_s)
    raters = len(main.first)
    start_us = now_us - (60 * 86_400 + rng.integers(0, 30 * 86_400, raters)) * 10**6
    since_start_s = elapsed_s - elapsed_s[main.first][main.rater]
    issued_us = start_us[main.rater] + since_start_s * 10**6
    issued_us[main.is_open] = now_us - rng.integers(0, 20 * 10**6, int(main.is_open.sum()))
    return position, issued_us, start_us


def items_handed_out(
    main: MainAssignments, items: Items, problems: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Which item each main assignment shows, and the most any item is handed out (the campaign's
    judgments per item). A problem's items in a random order are taken in turn by the problem's
    raters, so an item is handed out at most ceil(raters of the problem / its items) times; an
    expired assignment showed any of them. The app's scheduler picks by each rater's balance
    instead: the seed needs only rows the campaign's rules allow, which INTEGRITY checks."""
    items_of_problem = np.bincount(items.problem, minlength=problems)
    by_problem = np.lexsort((rng.random(len(items)), items.problem))
    item_start = np.concatenate([[0], np.cumsum(items_of_problem)[:-1]])
    item = np.empty(len(main), int)
    counted = np.flatnonzero(~main.is_expired)
    turn_order = counted[np.lexsort((rng.random(len(counted)), main.problem[counted]))]
    turn_problem = main.problem[turn_order]
    demand = np.bincount(turn_problem, minlength=problems)
    demand_start = np.concatenate([[0], np.cumsum(demand)[:-1]])
    turn = np.arange(len(turn_order)) - demand_start[turn_problem] + rng.integers(0, 1000)
    item[turn_order] = by_problem[item_start[turn_problem] + turn % items_of_problem[turn_problem]]
    gone = np.flatnonzero(main.is_expired)
    gone_problem = main.problem[gone]
    anyone = rng.integers(0, 1 << 30, len(gone)) % items_of_problem[gone_problem]
    item[gone] = by_problem[item_start[gone_problem] + anyone]
    # written on the campaign; the items' judgments left are the app's recount, after the rows
    handed_out = np.bincount(item[counted], minlength=len(items))
    return item, int(handed_out.max()) if counted.size else 1


@dataclass(frozen=True)
class PracticeAssignments:
    """Each rater's practice items, answered right, just before the rater's first main item."""

    rater: np.ndarray
    slot: np.ndarray  # which practice item, from 0
    item: np.ndarray  # the item's index (main items first)
    problem: np.ndarray
    correct: np.ndarray
    issued_us: np.ndarray

    @classmethod
    def of(
        cls, practice: list[PracticeItem], items: Items, start_us: np.ndarray
    ) -> "PracticeAssignments":
        raters = len(start_us)
        rater = np.repeat(np.arange(raters), PRACTICE)
        slot = np.tile(np.arange(PRACTICE), raters)
        return cls(
            rater, slot, len(items) + slot, np.array([item.problem for item in practice])[slot],
            np.array([item.correct for item in practice])[slot],
            start_us[rater] - (PRACTICE - slot) * ITEM_GAP_S * 10**6,
        )  # fmt: skip


@dataclass(frozen=True)
class Judged:
    """The judgments, practice ones first, then main ones, in their assignments' order."""

    rater: np.ndarray
    verdict: np.ndarray  # 0: none (timed out), 1: correct, 2: incorrect
    timed_out: np.ndarray
    swept: np.ndarray  # the sweep's timeouts, for expired assignments: no client timing
    late: np.ndarray
    client_ms: np.ndarray
    hidden_ms: np.ndarray
    server_ms: np.ndarray
    answered_us: np.ndarray


def judgments(
    practice: PracticeAssignments, main: MainAssignments, items: Items, rounds: np.ndarray,
    run_of: np.ndarray, rng: np.random.Generator,
) -> Judged:  # fmt: skip
    """The rater's accuracy on the item's cell is by role and round, the run and the rater's
    skill, or chance; about 3% of the other main items time out on the page, a timeout recorded
    when the page next asks: a few seconds after the limit. An expired item is the sweep's
    timeout, recorded at its hard deadline as the app records it."""
    practice_n, raters = len(practice.rater), len(main.first)
    j_main = np.flatnonzero(main.is_closed)
    j_item = main.item[j_main]
    total = practice_n + len(j_main)
    accuracy = np.stack([0.70 + 0.025 * rounds, 0.80 - 0.035 * rounds], axis=1)
    accuracy += np.array([0.0, -0.03, 0.02])[run_of % 3][:, None]  # the runs differ a little
    skill = rng.normal(0, 0.06, raters)
    guesser = rng.random(raters) < CHANCE_RATER_SHARE
    main_raters = main.rater[j_main]
    p_right = np.clip(
        accuracy[items.checkpoint[j_item], items.role[j_item]] + skill[main_raters], 0.05, 0.98
    )
    p_right[guesser[main_raters]] = 0.5
    right = np.concatenate([np.ones(practice_n, bool), rng.random(len(j_main)) < p_right])
    truth = np.concatenate([practice.correct, items.correct[j_item]])
    swept = np.concatenate([np.zeros(practice_n, bool), main.is_expired[j_main]])
    timed_out = ((rng.random(total) < TIMEOUT_SHARE) & (np.arange(total) >= practice_n)) | swept
    limit_ms, hard_ms = TIME_LIMIT_S * 1000, (TIME_LIMIT_S + GRACE_S) * 1000
    server_ms = np.clip(rng.lognormal(np.log(18_000), 0.5, total), 1500, hard_ms).astype(int)
    server_ms[timed_out] = hard_ms
    client_ms = np.maximum(server_ms - rng.integers(40, 400, total), 0)
    hidden = rng.random(total) < 0.08
    hidden_ms = np.where(hidden, np.minimum(rng.integers(500, 15_000, total), client_ms), 0)
    issued_us = np.concatenate([practice.issued_us, main.issued_us[j_main]])
    asked_ms = np.where(swept, 0, rng.integers(0, 8000, total))  # the page asks again
    answered_us = issued_us + np.where(timed_out, (hard_ms + asked_ms) * 1000, server_ms * 1000)
    return Judged(
        rater=np.concatenate([practice.rater, main_raters]),
        verdict=np.where(timed_out, 0, np.where(right == truth, 1, 2)), timed_out=timed_out,
        swept=swept, late=~timed_out & (server_ms > limit_ms), client_ms=client_ms,
        hidden_ms=hidden_ms, server_ms=server_ms, answered_us=answered_us,
    )  # fmt: skip


@dataclass(frozen=True)
class AllAssignments:
    """Every assignment: practice ones, then main ones; written in the order they were issued,
    with ids drawn from the seed's generator (random UUIDs, as the app's)."""

    rater: np.ndarray
    item: np.ndarray
    problem: np.ndarray
    is_practice: np.ndarray
    position: np.ndarray
    issued_us: np.ndarray
    state: np.ndarray  # an index into STATES
    ids: list[str]
    judged_ids: list[str]  # the ids of the closed ones, in the order of Judged's rows


STATES = ("open", "expired", "timed_out", "answered")


def all_assignments(
    practice: PracticeAssignments, main: MainAssignments, judged: Judged,
    rng: np.random.Generator,
) -> AllAssignments:  # fmt: skip
    practice_n = len(practice.rater)
    not_main = np.zeros(practice_n, bool)
    count = practice_n + len(main)
    closed = np.concatenate([np.ones(practice_n, bool), main.is_closed])
    timed_out = np.zeros(count, bool)
    timed_out[np.flatnonzero(closed)] = judged.timed_out  # judged rows come in the same order
    state = np.where(
        np.concatenate([not_main, main.is_open]), 0,
        np.where(np.concatenate([not_main, main.is_expired]), 1, np.where(timed_out, 2, 3)),
    )  # fmt: skip
    raw = rng.bytes(16 * count)
    ids = [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, len(raw), 16)]
    return AllAssignments(
        rater=np.concatenate([practice.rater, main.rater]),
        item=np.concatenate([practice.item, main.item]),
        problem=np.concatenate([practice.problem, main.problem]),
        is_practice=np.arange(count) < practice_n,
        position=np.concatenate([practice.slot + 1, main.position]),
        issued_us=np.concatenate([practice.issued_us, main.issued_us]), state=state, ids=ids,
        judged_ids=[ids[i] for i in np.flatnonzero(closed).tolist()],
    )  # fmt: skip


# --- writing the rows -------------------------------------------------------------------------


def copy_rows(cursor: Any, table: str, columns: str, rows: Iterable[Sequence[object]]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def write_campaign(rounds: np.ndarray, run_of: np.ndarray, per_item: int) -> tuple[Any, list[int]]:
    """The runs, their checkpoints and the live campaign over them; the campaign and the
    checkpoints' ids. Its cap on judging time is set once the raters' counters are in."""
    from annotations.models import Campaign
    from legibility.models import Checkpoint, TrainingRun

    runs = TrainingRun.objects.bulk_create([TrainingRun(name=name) for name in RUNS])
    checkpoints = Checkpoint.objects.bulk_create(
        [
            Checkpoint(run=runs[run], name=f"round-{r}", round=r, step=(r + 1) * 500)
            for run, r in zip(run_of.tolist(), rounds.tolist(), strict=True)
        ]
    )
    campaign = Campaign.objects.create(
        slug=SLUG, name="Benchmark campaign", status=Campaign.Status.LIVE,
        time_limit_s=TIME_LIMIT_S, grace_s=GRACE_S, questions_per_session=PER_SESSION,
        practice_items=PRACTICE, follow_new_checkpoints=False, judgments_per_item=per_item,
    )  # fmt: skip
    campaign.runs.set(runs)
    campaign.checkpoints.set(checkpoints)
    return campaign, [checkpoint.pk for checkpoint in checkpoints]


GRADES = {True: "correct", False: "incorrect"}  # a sample's grade_status by its correctness


def write_problems_and_samples(
    cursor: Any, shape: Shape, sample_correct: np.ndarray, checkpoint_ids: list[int],
    created: str,
) -> None:  # fmt: skip
    """Problems of counting pencils in boxes (GSM8K's kind: no MATH level or subject); a
    sample's solution is right when it is correct, else off by one or more."""
    copy_rows(
        cursor, "legibility_problem", "id, external_id, question, answer, subject, created_at",
        ((p + 1, f"bench-{p:05d}", f"Problem {p}: {p % 97 + 3} boxes hold {p % 13 + 2} "
          "pencils each. How many pencils are there?", str((p % 97 + 3) * (p % 13 + 2)), "",
          created) for p in range(shape.problems)),
    )  # fmt: skip
    flat_correct = sample_correct.ravel().tolist()

    def sample_rows() -> Iterable[tuple[object, ...]]:
        index = 0
        for c in range(shape.checkpoints):
            for role_name in ROLES:
                for p in range(shape.problems):
                    boxes, each = p % 97 + 3, p % 13 + 2
                    for i in range(shape.samples_per_cell):
                        correct = flat_correct[index]
                        given = boxes * each if correct else boxes * each + 1 + i
                        index += 1
                        text = (
                            f"There are {boxes} boxes with {each} pencils in each box.\n"
                            f"To find the total we multiply: {boxes} * {each} = {given}.\n"
                            f"So there are {given} pencils.\n#### {given}"
                        )
                        yield (
                            index, checkpoint_ids[c], p + 1, role_name, text, str(given),
                            correct, GRADES[correct], 0.5, i, f"{index:064x}", "{}", created,
                        )  # fmt: skip

    copy_rows(
        cursor, "legibility_sample",
        "id, checkpoint_id, problem_id, role, text, extracted_answer, is_correct, grade_status, "
        "verifier_score, sample_index, content_hash, meta, created_at",
        sample_rows(),
    )  # fmt: skip


def write_items(
    cursor: Any, campaign: Any, checkpoint_ids: list[int], items: Items,
    practice: list[PracticeItem], rng: np.random.Generator,
) -> None:  # fmt: skip
    """The main items, then the practice ones; each one's judgments left is written as the
    campaign's judgments per item, and set by the app's own recount once the assignments are
    in."""
    from annotations.designs.verdict import balance_key

    per_item = campaign.judgments_per_item
    random_keys = rng.random(len(items) + PRACTICE).tolist()

    def item_rows() -> Iterable[tuple[object, ...]]:
        columns_of = (items.sample + 1, items.problem + 1, items.checkpoint, items.role,
                      items.correct)  # fmt: skip
        rows = zip(*(column.tolist() for column in columns_of), strict=True)
        for index, (sample, problem, c, r, correct) in enumerate(rows):
            key = balance_key(checkpoint_ids[c], ROLES[r], correct)
            yield (
                index + 1, campaign.pk, sample, problem, checkpoint_ids[c], ROLES[r],
                correct, key, False, per_item, random_keys[index],
            )  # fmt: skip
        for k, (sample, problem, c, r, correct) in enumerate(practice):
            key = balance_key(checkpoint_ids[c], ROLES[r], correct)
            yield (
                len(items) + k + 1, campaign.pk, sample + 1, problem + 1, checkpoint_ids[c],
                ROLES[r], correct, key, True, per_item, random_keys[len(items) + k],
            )  # fmt: skip

    copy_rows(
        cursor, "annotations_campaignitem",
        "id, campaign_id, sample_id, problem_id, checkpoint_id, role, sample_is_correct, "
        "balance_key, is_practice, remaining, random_key",
        item_rows(),
    )  # fmt: skip


def write_raters(cursor: Any, campaign: Any, main: MainAssignments) -> None:
    """A user and a rater each, consented and past practice; the counters are set by the app's
    own recount once the assignments and judgments are in."""
    from django.contrib.auth.hashers import make_password

    raters = len(main.first)
    password = make_password("bench")
    joined = stamps(main.start_us - 3600 * 10**6)
    copy_rows(
        cursor, "auth_user",
        "id, password, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined",
        ((r + 1, password, False, f"bench-rater-{r:04d}", "", "", "", False, True, joined[r])
         for r in range(raters)),
    )  # fmt: skip
    # a rater has started the session the next item falls in (the app's rule, over arrays)
    sessions = sessions_of(main.issued_n + 1).tolist()
    practiced = stamps(main.start_us - 10**6)
    copy_rows(
        cursor, "annotations_rater",
        "id, user_id, campaign_id, pseudonym, consented_at, practice_done_at, "
        "sessions_started, main_assigned, judged_ms, balance_counts, created_at",
        # an odd multiplier is a bijection modulo 2**32: distinct pseudonyms, no pattern
        ((r + 1, r + 1, campaign.pk, f"r-{(r * 2654435761) % 2**32:08x}", joined[r],
          practiced[r], sessions[r], 0, 0, "{}", joined[r]) for r in range(raters)),
    )  # fmt: skip


def write_assignments_and_judgments(cursor: Any, assigned: AllAssignments, judged: Judged) -> None:
    """Assignments in the order they were issued, judgments in the order they were answered."""
    issued = stamps(assigned.issued_us)
    deadline = stamps(assigned.issued_us + TIME_LIMIT_S * 10**6)
    rows_of = {
        "rater": (assigned.rater + 1).tolist(), "item": (assigned.item + 1).tolist(),
        "problem": (assigned.problem + 1).tolist(), "practice": assigned.is_practice.tolist(),
        "position": assigned.position.tolist(), "state": assigned.state.tolist(),
    }  # fmt: skip
    copy_rows(
        cursor, "annotations_assignment",
        "id, rater_id, item_id, problem_id, is_practice, position, state, issued_at, deadline",
        ((assigned.ids[i], rows_of["rater"][i], rows_of["item"][i], rows_of["problem"][i],
          rows_of["practice"][i], rows_of["position"][i], STATES[rows_of["state"][i]],
          issued[i], deadline[i])
         for i in np.argsort(assigned.issued_us, kind="stable").tolist()),
    )  # fmt: skip
    answered = stamps(judged.answered_us)
    verdicts = ("", "correct", "incorrect")
    swept = judged.swept.tolist()

    def from_page(values: np.ndarray) -> list[int | None]:
        """What the rater's page reported: nothing for the sweep's timeouts."""
        return [None if gone else value for value, gone in zip(values.tolist(), swept, strict=True)]

    judged_of = {
        "timed_out": judged.timed_out.tolist(), "verdict": judged.verdict.tolist(),
        "late": judged.late.tolist(), "client": from_page(judged.client_ms),
        "hidden": from_page(judged.hidden_ms), "server": judged.server_ms.tolist(),
    }  # fmt: skip
    copy_rows(
        cursor, "annotations_judgment",
        "id, assignment_id, verdict, timed_out, late, client_ms, hidden_ms, server_ms, "
        "answered_at",
        ((n + 1, assigned.judged_ids[i], verdicts[judged_of["verdict"][i]],
          judged_of["timed_out"][i], judged_of["late"][i], judged_of["client"][i],
          judged_of["hidden"][i], judged_of["server"][i], answered[i])
         for n, i in enumerate(np.argsort(judged.answered_us, kind="stable").tolist())),
    )  # fmt: skip


def finish_campaign(cursor: Any, campaign: Any) -> None:
    """What the app keeps beside the rows, set as the app sets it: the campaign's balance keys
    (those of its main items), the id sequences, the raters' counters and the items' judgments
    left (the app's recounts), and a cap on judging time above every rater's."""
    from django.contrib.auth.models import User
    from django.core.management.color import no_style
    from django.db import connection
    from django.db.models import Max

    from annotations.models import CampaignItem, Judgment, Rater
    from annotations.rating.counters import items_recount, raters_recount
    from legibility.models import Problem, Sample

    main = CampaignItem.objects.filter(campaign=campaign, is_practice=False)
    campaign.balance_keys = sorted(main.values_list("balance_key", flat=True).distinct())
    models = [User, Problem, Sample, CampaignItem, Rater, Judgment]
    for statement in connection.ops.sequence_reset_sql(no_style(), models):
        cursor.execute(statement)
    raters_recount()
    items_recount()
    judged_ms = Rater.objects.aggregate(most=Max("judged_ms"))["most"] or 0
    campaign.rater_cap_s = max(4, math.ceil(1.25 * judged_ms / 3_600_000)) * 3600
    campaign.save(update_fields=["balance_keys", "rater_cap_s"])


def seed(shape: Shape) -> None:
    """Fill the (migrated, empty) database Django is connected to.

    Sample correctness moves with the round and with how easy the problem is. Items follow the
    protocol: per checkpoint, problems with both correct and incorrect samples give one random
    sample per (role, correctness). Each rater takes distinct problems (never one of the
    practice problems), each shown as one of that problem's items in turn, so no item is handed
    out more than the campaign allows; accuracy moves with the round and the rater's skill, a
    few raters guess, about 3% of items time out, 1% of main assignments expired (the page
    closed: the sweep recorded a timeout and handed the item out again) and 2% of raters have
    an item open now. Ids are given explicitly so every row can be computed in numpy and written
    with COPY; the sequences are reset afterwards. The raters' counters and the items'
    judgments left are the app's own recount of the rows written."""
    from django.db import connection, transaction

    if shape.problems < PRACTICE + 1 or shape.raters < 1:
        sys.exit("too few samples or raters for a campaign")
    rng = np.random.default_rng(SEED)
    now_us = int(time.time() * 1e6)
    rounds, run_of = checkpoint_rounds(shape)
    sample_correct = sample_correctness(shape, rounds, rng)
    items = main_items(shape, sample_correct, rng)
    practice = practice_items(shape, sample_correct, items)
    main = raters_problems(shape, items, practice, rng)
    main.position, main.issued_us, main.start_us = issue_times(main, now_us, rng)
    main.item, per_item = items_handed_out(main, items, shape.problems, rng)
    practice_assigned = PracticeAssignments.of(practice, items, main.start_us)
    judged = judgments(practice_assigned, main, items, rounds, run_of, rng)
    assigned = all_assignments(practice_assigned, main, judged, rng)
    created = stamps(np.array([now_us - 90 * 86_400 * 10**6]))[0]

    with transaction.atomic(), connection.cursor() as cursor:
        campaign, checkpoint_ids = write_campaign(rounds, run_of, per_item)
        write_problems_and_samples(cursor, shape, sample_correct, checkpoint_ids, created)
        write_items(cursor, campaign, checkpoint_ids, items, practice, rng)
        write_raters(cursor, campaign, main)
        write_assignments_and_judgments(cursor, assigned, judged)
        finish_campaign(cursor, campaign)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, long before anyone measures


# --- checks and counts ------------------------------------------------------------------------

INTEGRITY = {
    "items handed out more often than judgments_per_item": """
        SELECT count(*) FROM annotations_campaignitem i
        JOIN annotations_campaign c ON c.id = i.campaign_id
        JOIN (SELECT item_id, count(*) AS n FROM annotations_assignment
              WHERE NOT is_practice AND state <> 'expired' GROUP BY item_id) a
          ON a.item_id = i.id
        WHERE a.n > c.judgments_per_item""",
    "items whose remaining is not judgments_per_item minus their live assignments": """
        SELECT count(*) FROM annotations_campaignitem i
        JOIN annotations_campaign c ON c.id = i.campaign_id
        LEFT JOIN (SELECT item_id, count(*) AS n FROM annotations_assignment
                   WHERE NOT is_practice AND state <> 'expired' GROUP BY item_id) a
          ON a.item_id = i.id
        WHERE NOT i.is_practice AND i.remaining <> c.judgments_per_item - coalesce(a.n, 0)""",
    "assignments whose state does not match their judgment (an expired main one's: a timeout)": """
        SELECT count(*) FROM annotations_assignment a
        LEFT JOIN annotations_judgment j ON j.assignment_id = a.id
        WHERE CASE WHEN a.state = 'answered' THEN j.id IS NULL OR j.timed_out
                   WHEN a.state = 'timed_out' OR (a.state = 'expired' AND NOT a.is_practice)
                        THEN j.id IS NULL OR NOT j.timed_out
                   ELSE j.id IS NOT NULL END""",
    "problems a rater was shown twice (practice included)": """
        SELECT count(*) FROM (SELECT 1 FROM annotations_assignment
                              GROUP BY rater_id, problem_id HAVING count(*) > 1) twice""",
    "assignments whose problem is not their item's": """
        SELECT count(*) FROM annotations_assignment a
        JOIN annotations_campaignitem i ON i.id = a.item_id
        WHERE a.problem_id <> i.problem_id OR a.is_practice <> i.is_practice""",
    "raters whose counters do not match their assignments and judgments": """
        SELECT count(*) FROM annotations_rater r
        LEFT JOIN (SELECT rater_id, count(*) AS n FROM annotations_assignment
                   WHERE NOT is_practice GROUP BY rater_id) a
          ON a.rater_id = r.id
        LEFT JOIN (SELECT a.rater_id, sum(j.server_ms) AS ms FROM annotations_judgment j
                   JOIN annotations_assignment a ON a.id = j.assignment_id
                   WHERE NOT a.is_practice GROUP BY a.rater_id) j
          ON j.rater_id = r.id
        LEFT JOIN (SELECT rater_id, jsonb_object_agg(cell, n) AS cells
                   FROM (SELECT a.rater_id, i.balance_key AS cell,
                                count(*) AS n
                         FROM annotations_assignment a
                         JOIN annotations_campaignitem i ON i.id = a.item_id
                         WHERE NOT a.is_practice
                         GROUP BY 1, 2) per_cell
                   GROUP BY rater_id) c
          ON c.rater_id = r.id
        WHERE r.main_assigned <> coalesce(a.n, 0) OR r.judged_ms <> coalesce(j.ms, 0)
           OR r.balance_counts <> coalesce(c.cells, '{}'::jsonb)""",
    "raters past the session they started": """
        SELECT count(*) FROM annotations_rater r
        JOIN annotations_campaign c ON c.id = r.campaign_id
        JOIN (SELECT rater_id, count(*) AS n FROM annotations_assignment
              WHERE NOT is_practice GROUP BY rater_id) a
          ON a.rater_id = r.id
        WHERE a.n > r.sessions_started * c.questions_per_session""",
}

COUNTS = {
    "training runs": "SELECT count(*) FROM legibility_trainingrun",
    "checkpoints": "SELECT count(*) FROM legibility_checkpoint",
    "problems": "SELECT count(*) FROM legibility_problem",
    "samples": "SELECT count(*) FROM legibility_sample",
    "campaign items (main)": "SELECT count(*) FROM annotations_campaignitem WHERE NOT is_practice",
    "campaign items (practice)": "SELECT count(*) FROM annotations_campaignitem WHERE is_practice",
    "raters": "SELECT count(*) FROM annotations_rater",
    "assignments": "SELECT count(*) FROM annotations_assignment",
    **{
        f"assignments {state.replace('_', ' ')}":
            f"SELECT count(*) FROM annotations_assignment WHERE state = '{state}'"
        for state in ("answered", "timed_out", "expired", "open")
    },
    "judgments (main)": """SELECT count(*) FROM annotations_judgment j
        JOIN annotations_assignment a ON a.id = j.assignment_id WHERE NOT a.is_practice""",
    "judgments (practice)": """SELECT count(*) FROM annotations_judgment j
        JOIN annotations_assignment a ON a.id = j.assignment_id WHERE a.is_practice""",
    "free judgments left (sum of remaining over main items)":
        "SELECT sum(remaining) FROM annotations_campaignitem WHERE NOT is_practice",
}  # fmt: skip


def integrity_problems() -> dict[str, int]:
    """Each check's count of offending rows (all zero when the data is consistent)."""
    from django.db import connection

    found = {}
    with connection.cursor() as cursor:
        for name, query in INTEGRITY.items():
            cursor.execute(query)
            found[name] = cursor.fetchone()[0]
    return found


def row_counts() -> dict[str, int]:
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for name, query in COUNTS.items():
            cursor.execute(query)
            counts[name] = int(cursor.fetchone()[0] or 0)
    return counts


def database_mb() -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return float(cursor.fetchone()[0]) / 2**20


def postgres_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0]).split()[0]


# --- the script -------------------------------------------------------------------------------


def main() -> None:
    from bench.report import write_section
    from bench.stack import base_database_url, machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Shape()
    parser.add_argument("--samples", type=int, default=defaults.samples)
    parser.add_argument("--judgments", type=int, default=defaults.judgments)
    parser.add_argument("--raters", type=int, default=defaults.raters)
    parser.add_argument("--checkpoints", type=int, default=defaults.checkpoints)
    parser.add_argument("--samples-per-cell", type=int, default=defaults.samples_per_cell)
    parser.add_argument("--database", help="scratch database name (default <name>_bench_seed)")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    shape = Shape(
        samples=args.samples, judgments=args.judgments, raters=args.raters,
        checkpoints=args.checkpoints, samples_per_cell=args.samples_per_cell,
    )  # fmt: skip
    given_url = base_database_url()
    name = args.database or scratch_name("seed")
    os.environ["DATABASE_URL"] = create_database(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legibility.settings")
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter()
    seed(shape)
    seconds = time.perf_counter() - migrated
    counts, problems = row_counts(), integrity_problems()
    print(f"migrated in {migrated - started:.1f} s, seeded {name} in {seconds:.1f} s", flush=True)
    for label, count in counts.items():
        print(f"  {label}: {count:,}")
    for label, count in problems.items():
        print(f"  {'ok' if count == 0 else 'FAILED'}: {count} {label}")
    if any(problems.values()):
        sys.exit("the seeded data breaks the checks above")

    from annotations.models import Campaign

    campaign = Campaign.objects.get(slug=SLUG)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    arguments = f" --samples {shape.samples} --judgments {shape.judgments}"
    if shape.raters != defaults.raters:
        arguments += f" --raters {shape.raters}"
    section = "\n".join(
        [
            "## Seed: a large installation with COPY",
            "",
            f"Run {when} on {machine()}, PostgreSQL {postgres_version()} on 127.0.0.1.",
            f"Command: `DATABASE_URL={given_url} .venv/bin/python bench/seed.py{arguments}`",
            "",
            f"Seeded in **{seconds:.0f} s** (after {migrated - started:.0f} s of migrations), "
            f"{database_mb():,.0f} MB database: {len(RUNS)} runs, {shape.checkpoints} "
            f"checkpoints, {shape.problems:,} problems with {shape.samples_per_cell} samples "
            "per checkpoint and role; one live campaign whose items follow the protocol, "
            f"{campaign.judgments_per_item} judgments per item, a cap of "
            f"{campaign.rater_cap_s // 3600} h of judging per rater, "
            f"{len(campaign.balance_keys)} balance keys (checkpoint × role × correctness).",
            "",
            "| rows | count |",
            "|---|---|",
            *(f"| {label} | {count:,} |" for label, count in counts.items()),
            "",
            "Integrity, checked on the seeded rows (all zero): "
            + "; ".join(f"{label}: {count}" for label, count in problems.items())
            + ". PostgreSQL itself holds the constraints (a problem once per rater, one open "
            "assignment per rater, deadlines after issue, verdicts matching timeouts).",
        ]
    )
    print(section)
    if not args.no_readme:
        write_section("seed", section)


if __name__ == "__main__":
    main()
