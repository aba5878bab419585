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
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
EXPIRED_SHARE = 0.01  # of main assignments: pages closed before answering, freed by the sweep
OPEN_RATER_SHARE = 0.02  # raters with an item on screen right now
ITEM_GAP_S = 60  # one item a minute within a session: longer than the limit plus grace
EXPIRY_GAP_S = 5 * 60  # after an expired item: the sweep frees it only past grace + 60 s
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


# --- seeding ----------------------------------------------------------------------------------


def copy_rows(cursor: Any, table: str, columns: str, rows: Iterable[Sequence[object]]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(shape: Shape) -> None:
    """Fill the (migrated, empty) database Django is connected to.

    Sample correctness moves with the round (helpful solutions get more often right, sneaky ones
    less) and with how easy the problem is. Items follow the protocol: per checkpoint, problems
    with both correct and incorrect samples give one random sample per (role, correctness).
    Each rater takes distinct problems (never one of the practice problems), each shown as one
    of that problem's items in turn, so no item is handed out more than the campaign allows;
    accuracy moves with the round and the rater's skill, a few raters guess, about 3% of items
    time out, 1% of assignments expired unanswered and 2% of raters have an item open now.
    Ids are given explicitly so every row can be computed in numpy and written with COPY; the
    sequences are reset afterwards."""
    import numpy as np
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from annotations.designs.verdict import balance_key
    from annotations.models import Campaign, CampaignItem, Judgment, Rater
    from annotations.rating.counters import items_recount, raters_recount
    from legibility.models import Checkpoint, Problem, Sample, TrainingRun

    problems, per_cell, raters = shape.problems, shape.samples_per_cell, shape.raters
    if problems < PRACTICE + 1 or raters < 1:
        sys.exit("too few samples or raters for a campaign")
    rng = np.random.default_rng(SEED)
    now_us = int(time.time() * 1e6)
    per_run = [
        shape.checkpoints // len(RUNS) + (i < shape.checkpoints % len(RUNS))
        for i in range(len(RUNS))
    ]
    rounds = np.concatenate([np.arange(n) for n in per_run])
    run_of = np.repeat(np.arange(len(RUNS)), per_run)

    def stamps(microseconds: Any) -> list[str]:
        return list(np.datetime_as_string(microseconds.astype("datetime64[us]"), timezone="UTC"))

    created = stamps(np.array([now_us - 90 * 86_400 * 10**6]))[0]

    # sample correctness: by role and round, and by how easy the problem is
    base = np.stack([0.55 + 0.05 * rounds, 0.30 - 0.03 * rounds], axis=1).clip(0.05, 0.95)
    easiness = rng.normal(0, 1.2, problems)
    logit = np.log(base / (1 - base))[:, :, None, None] + easiness[None, None, :, None]
    cube = (shape.checkpoints, len(ROLES), problems, per_cell)
    sample_correct = rng.random(cube) < 1 / (1 + np.exp(-logit))

    # main items, by the protocol: a (checkpoint, problem) with both kinds of sample gives one
    # random sample of every (role, correctness) it has; the last axis is correct, incorrect
    mixed = sample_correct.any(axis=(1, 3)) & ~sample_correct.all(axis=(1, 3))
    keys = rng.random(cube)
    matches = np.stack([sample_correct, ~sample_correct], axis=3)  # (c, r, p, kind, s)
    picked = np.where(matches, keys[:, :, :, None, :], -1.0).argmax(axis=4)
    exists = matches.any(axis=4) & mixed[:, None, :, None]
    item_c, item_r, item_p, item_kind = np.nonzero(exists)
    item_s = picked[item_c, item_r, item_p, item_kind]
    item_sample = ((item_c * len(ROLES) + item_r) * problems + item_p) * per_cell + item_s
    item_correct = item_kind == 0
    main_items = len(item_c)

    # practice: samples no main item uses, alternating correct and incorrect, on distinct
    # problems, problems without main items first (as select_practice_items does)
    used = np.zeros(sample_correct.size, bool)
    used[item_sample] = True
    unused = ~used.reshape(cube)
    practice: list[tuple[int, int, int, bool]] = []  # sample index, problem, checkpoint, correct
    for k in range(PRACTICE):
        want = k % 2 == 0
        found = np.argwhere(unused & (sample_correct == want))
        found = found[np.argsort(mixed.any(axis=0)[found[:, 2]], kind="stable")]
        taken = {p for _, p, _, _ in practice}
        for c, r, p, s in found.tolist():
            if p not in taken:
                index = ((c * len(ROLES) + r) * problems + p) * per_cell + s
                practice.append((index, p, c, want))
                break
        else:
            sys.exit("no sample is left over for practice: raise --samples-per-cell")

    # the raters' problems: distinct per rater, never a practice problem; each assignment is
    # judged, or expired, or the one open now
    items_of_problem = np.bincount(item_p, minlength=problems)
    eligible = np.flatnonzero(items_of_problem > 0)
    eligible = eligible[~np.isin(eligible, [p for _, p, _, _ in practice])]
    judged_n = np.full(raters, shape.judgments // raters)
    judged_n[: shape.judgments % raters] += 1
    open_n = (rng.random(raters) < OPEN_RATER_SHARE).astype(int)
    expired_n = rng.binomial(judged_n, EXPIRED_SHARE)
    total_n = judged_n + expired_n + open_n
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
    pair_problem = eligible[order[taken_mask]]
    pair_rater = np.repeat(np.arange(raters), total_n)
    sequence = np.broadcast_to(columns, (raters, len(eligible)))[taken_mask]
    pairs = len(pair_rater)
    first_of_rater = np.concatenate([[0], np.cumsum(total_n)[:-1]])
    is_open = (open_n[pair_rater] == 1) & (sequence == total_n[pair_rater] - 1)
    # expired: a random choice of each rater's closed assignments
    ranked = np.lexsort((np.where(is_open, 2.0, rng.random(pairs)), pair_rater))
    rank = np.empty(pairs, int)
    rank[ranked] = np.arange(pairs) - first_of_rater[pair_rater[ranked]]
    is_expired = ~is_open & (rank < expired_n[pair_rater])
    is_judged = ~is_open & ~is_expired

    # position: k of "Question k", counting the rater's assignments that were not expired
    live = (~is_expired).astype(int)
    before = np.cumsum(live) - live
    position = before - before[first_of_rater][pair_rater] + 1
    session = (position - 1) // PER_SESSION
    previous = np.arange(pairs) - 1
    new_session = (sequence > 0) & (session > session[previous]) & ~is_expired[previous]
    gap_s = np.where(is_expired[previous], EXPIRY_GAP_S, ITEM_GAP_S)
    gap_s = np.where(new_session, SESSION_GAP_S, gap_s)
    gap_s[sequence == 0] = 0
    elapsed_s = np.cumsum(gap_s)
    start_us = now_us - (60 * 86_400 + rng.integers(0, 30 * 86_400, raters)) * 10**6
    issued_us = start_us[pair_rater] + (elapsed_s - elapsed_s[first_of_rater][pair_rater]) * 10**6
    issued_us[is_open] = now_us - rng.integers(0, 20 * 10**6, int(is_open.sum()))

    # which item: the problem's items in a random order, taken in turn by the problem's raters,
    # so an item is handed out at most ceil(raters of the problem / its items) times
    by_problem = np.lexsort((rng.random(main_items), item_p))
    item_start = np.concatenate([[0], np.cumsum(items_of_problem)[:-1]])
    pair_item = np.empty(pairs, int)
    counted = np.flatnonzero(~is_expired)
    turn_order = counted[np.lexsort((rng.random(len(counted)), pair_problem[counted]))]
    turn_problem = pair_problem[turn_order]
    demand = np.bincount(turn_problem, minlength=problems)
    demand_start = np.concatenate([[0], np.cumsum(demand)[:-1]])
    turn = np.arange(len(turn_order)) - demand_start[turn_problem] + rng.integers(0, 1000)
    pair_item[turn_order] = by_problem[
        item_start[turn_problem] + turn % items_of_problem[turn_problem]
    ]
    gone = np.flatnonzero(is_expired)
    gone_problem = pair_problem[gone]
    anyone = rng.integers(0, 1 << 30, len(gone)) % items_of_problem[gone_problem]
    pair_item[gone] = by_problem[item_start[gone_problem] + anyone]
    handed_out = np.bincount(pair_item[counted], minlength=main_items)
    per_item = int(handed_out.max()) if counted.size else 1

    # practice first: each rater's practice items, answered right, before the main ones
    practice_n = raters * PRACTICE
    p_rater = np.repeat(np.arange(raters), PRACTICE)
    p_slot = np.tile(np.arange(PRACTICE), raters)
    p_item = main_items + p_slot
    p_problem = np.array([p for _, p, _, _ in practice])[p_slot]
    p_correct = np.array([correct for _, _, _, correct in practice])[p_slot]
    p_issued_us = start_us[p_rater] - (PRACTICE - p_slot) * ITEM_GAP_S * 10**6

    # the judged rows, practice and main: the rater's accuracy on the item's cell is by role
    # and round, the run and the rater's skill, or chance
    j_main = np.flatnonzero(is_judged)
    j_item = pair_item[j_main]
    j_rater = np.concatenate([p_rater, pair_rater[j_main]])
    total = len(j_rater)
    is_practice = np.arange(total) < practice_n
    checkpoint, role = item_c[j_item], item_r[j_item]
    accuracy = np.stack([0.70 + 0.025 * rounds, 0.80 - 0.035 * rounds], axis=1)
    accuracy += np.array([0.0, -0.03, 0.02])[run_of % 3][:, None]  # the runs differ a little
    skill = rng.normal(0, 0.06, raters)
    guesser = rng.random(raters) < CHANCE_RATER_SHARE
    main_raters = pair_rater[j_main]
    p_right = np.clip(accuracy[checkpoint, role] + skill[main_raters], 0.05, 0.98)
    p_right[guesser[main_raters]] = 0.5
    right = np.concatenate([np.ones(practice_n, bool), rng.random(len(j_main)) < p_right])
    truth = np.concatenate([p_correct, item_correct[j_item]])
    timed_out = (rng.random(total) < TIMEOUT_SHARE) & ~is_practice
    verdict = np.where(timed_out, 0, np.where(right == truth, 1, 2))
    limit_ms, hard_ms = TIME_LIMIT_S * 1000, (TIME_LIMIT_S + GRACE_S) * 1000
    server_ms = np.clip(rng.lognormal(np.log(18_000), 0.5, total), 1500, hard_ms).astype(int)
    server_ms[timed_out] = hard_ms
    late = ~timed_out & (server_ms > limit_ms)
    client_ms = np.maximum(server_ms - rng.integers(40, 400, total), 0)
    hidden = rng.random(total) < 0.08
    hidden_ms = np.where(hidden, np.minimum(rng.integers(500, 15_000, total), client_ms), 0)
    j_issued_us = np.concatenate([p_issued_us, issued_us[j_main]])
    # a timeout is recorded when the rater's page next asks: a few seconds after the limit
    answered_us = j_issued_us + np.where(
        timed_out, (hard_ms + rng.integers(0, 8000, total)) * 1000, server_ms * 1000
    )
    judged_ms = np.bincount(main_raters, weights=server_ms[practice_n:], minlength=raters)
    judged_ms = judged_ms.astype(np.int64)
    cap_hours = max(4, int(np.ceil(1.25 * judged_ms.max() / 3_600_000)))

    # every assignment: practice, then main ones; they are written in the order they were
    # issued, judgments in the order they were answered
    a_rater = np.concatenate([p_rater, pair_rater])
    a_item = np.concatenate([p_item, pair_item])
    a_problem = np.concatenate([p_problem, pair_problem])
    a_practice = np.arange(len(a_rater)) < practice_n
    a_position = np.concatenate([p_slot + 1, position])
    a_issued_us = np.concatenate([p_issued_us, issued_us])
    a_judged = np.concatenate([np.ones(practice_n, bool), is_judged])
    a_timed_out = np.zeros(len(a_rater), bool)
    a_timed_out[np.flatnonzero(a_judged)] = timed_out  # judged rows come in the same order
    a_state = np.where(
        np.concatenate([np.zeros(practice_n, bool), is_open]), 0,
        np.where(np.concatenate([np.zeros(practice_n, bool), is_expired]), 1,
                 np.where(a_timed_out, 2, 3)),
    )  # fmt: skip
    raw = rng.bytes(16 * len(a_rater))
    ids = [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, len(raw), 16)]
    j_ids = [ids[i] for i in np.flatnonzero(a_judged).tolist()]

    with transaction.atomic(), connection.cursor() as cursor:
        runs = TrainingRun.objects.bulk_create([TrainingRun(name=name) for name in RUNS])
        checkpoints = Checkpoint.objects.bulk_create(
            [
                Checkpoint(run=runs[run], name=f"round-{r}", round=r, step=(r + 1) * 500)
                for run, r in zip(run_of.tolist(), rounds.tolist(), strict=True)
            ]
        )
        checkpoint_ids = [checkpoint.pk for checkpoint in checkpoints]
        campaign = Campaign.objects.create(
            slug=SLUG, name="Benchmark campaign", status=Campaign.Status.LIVE,
            time_limit_s=TIME_LIMIT_S, grace_s=GRACE_S, questions_per_session=PER_SESSION,
            practice_items=PRACTICE, follow_new_checkpoints=False, judgments_per_item=per_item,
            rater_cap_s=cap_hours * 3600,
        )  # fmt: skip
        campaign.runs.set(runs)
        campaign.checkpoints.set(checkpoints)

        copy_rows(
            cursor, "legibility_problem", "id, external_id, question, answer, created_at",
            ((p + 1, f"bench-{p:05d}", f"Problem {p}: {p % 97 + 3} boxes hold {p % 13 + 2} "
              "pencils each. How many pencils are there?", str((p % 97 + 3) * (p % 13 + 2)),
              created) for p in range(problems)),
        )  # fmt: skip

        flat_correct = sample_correct.ravel().tolist()

        def sample_rows() -> Iterable[tuple[object, ...]]:
            index = 0
            for c in range(shape.checkpoints):
                for role_name in ROLES:
                    for p in range(problems):
                        boxes, each = p % 97 + 3, p % 13 + 2
                        for i in range(per_cell):
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
                                correct, 0.5, i, f"{index:064x}", "{}", created,
                            )  # fmt: skip

        copy_rows(
            cursor, "legibility_sample",
            "id, checkpoint_id, problem_id, role, text, extracted_answer, is_correct, "
            "verifier_score, sample_index, content_hash, meta, created_at",
            sample_rows(),
        )  # fmt: skip

        def item_rows() -> Iterable[tuple[object, ...]]:
            # remaining is set by the app's own recount once the assignments are in
            random_keys = rng.random(main_items + PRACTICE).tolist()
            columns_of = (item_sample + 1, item_p + 1, item_c, item_r, item_correct)
            rows = zip(*(column.tolist() for column in columns_of), strict=True)
            for index, (sample, problem, c, r, correct) in enumerate(rows):
                key = balance_key(checkpoint_ids[c], ROLES[r], correct)
                yield (
                    index + 1, campaign.pk, sample, problem, checkpoint_ids[c], ROLES[r],
                    correct, key, False, per_item, random_keys[index],
                )  # fmt: skip
            for k, (sample, problem, c, correct) in enumerate(practice):
                key = balance_key(checkpoint_ids[c], ROLES[0], correct)
                yield (
                    main_items + k + 1, campaign.pk, sample + 1, problem + 1, checkpoint_ids[c],
                    ROLES[0], correct, key, True, per_item, random_keys[main_items + k],
                )  # fmt: skip

        copy_rows(
            cursor, "annotations_campaignitem",
            "id, campaign_id, sample_id, problem_id, checkpoint_id, role, sample_is_correct, "
            "balance_key, is_practice, remaining, random_key",
            item_rows(),
        )  # fmt: skip

        password = make_password("bench")
        joined = stamps(start_us - 3600 * 10**6)
        copy_rows(
            cursor, "auth_user",
            "id, password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined",
            ((r + 1, password, False, f"bench-rater-{r:04d}", "", "", "", False, True, joined[r])
             for r in range(raters)),
        )  # fmt: skip
        # a rater has started the session the next item falls in; the counters are set by
        # the app's own recount once the assignments and judgments are in
        sessions = ((judged_n + open_n) // PER_SESSION + 1).tolist()
        practiced = stamps(start_us - 10**6)
        copy_rows(
            cursor, "annotations_rater",
            "id, user_id, campaign_id, pseudonym, consented_at, practice_done_at, "
            "sessions_started, main_assigned, judged_ms, balance_counts, created_at",
            # an odd multiplier is a bijection modulo 2**32: distinct pseudonyms, no pattern
            ((r + 1, r + 1, campaign.pk, f"r-{(r * 2654435761) % 2**32:08x}", joined[r],
              practiced[r], sessions[r], 0, 0, "{}", joined[r]) for r in range(raters)),
        )  # fmt: skip

        issued = stamps(a_issued_us)
        deadline = stamps(a_issued_us + limit_ms * 1000)
        states = ("open", "expired", "timed_out", "answered")
        rows_of = {
            "rater": (a_rater + 1).tolist(), "item": (a_item + 1).tolist(),
            "problem": (a_problem + 1).tolist(), "practice": a_practice.tolist(),
            "position": a_position.tolist(), "state": a_state.tolist(),
        }  # fmt: skip
        copy_rows(
            cursor, "annotations_assignment",
            "id, rater_id, item_id, problem_id, is_practice, position, state, issued_at, deadline",
            ((ids[i], rows_of["rater"][i], rows_of["item"][i], rows_of["problem"][i],
              rows_of["practice"][i], rows_of["position"][i], states[rows_of["state"][i]],
              issued[i], deadline[i])
             for i in np.argsort(a_issued_us, kind="stable").tolist()),
        )  # fmt: skip
        answered = stamps(answered_us)
        verdicts = ("", "correct", "incorrect")
        judged_of = {
            "timed_out": timed_out.tolist(), "verdict": verdict.tolist(), "late": late.tolist(),
            "client": client_ms.tolist(), "hidden": hidden_ms.tolist(),
            "server": server_ms.tolist(),
        }  # fmt: skip
        copy_rows(
            cursor, "annotations_judgment",
            "id, assignment_id, verdict, timed_out, late, client_ms, hidden_ms, server_ms, "
            "answered_at",
            ((n + 1, j_ids[i], verdicts[judged_of["verdict"][i]], judged_of["timed_out"][i],
              judged_of["late"][i], judged_of["client"][i], judged_of["hidden"][i],
              judged_of["server"][i], answered[i])
             for n, i in enumerate(np.argsort(answered_us, kind="stable").tolist())),
        )  # fmt: skip

        campaign.balance_keys = sorted(
            {balance_key(checkpoint_ids[c], ROLES[r], bool(k == 0)) for c, r, k in
             zip(item_c.tolist(), item_r.tolist(), item_kind.tolist(), strict=True)}
        )  # fmt: skip
        campaign.save(update_fields=["balance_keys"])
        models = [User, Problem, Sample, CampaignItem, Rater, Judgment]
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)
        raters_recount()
        items_recount()
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
    "assignments whose state does not match their judgment": """
        SELECT count(*) FROM annotations_assignment a
        LEFT JOIN annotations_judgment j ON j.assignment_id = a.id
        WHERE CASE a.state WHEN 'answered' THEN j.id IS NULL OR j.timed_out
                           WHEN 'timed_out' THEN j.id IS NULL OR NOT j.timed_out
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
                   WHERE NOT is_practice AND state <> 'expired' GROUP BY rater_id) a
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
                         WHERE NOT a.is_practice AND a.state <> 'expired'
                         GROUP BY 1, 2) per_cell
                   GROUP BY rater_id) c
          ON c.rater_id = r.id
        WHERE r.main_assigned <> coalesce(a.n, 0) OR r.judged_ms <> coalesce(j.ms, 0)
           OR r.balance_counts <> coalesce(c.cells, '{}'::jsonb)""",
    "raters past the session they started": """
        SELECT count(*) FROM annotations_rater r
        JOIN annotations_campaign c ON c.id = r.campaign_id
        JOIN (SELECT rater_id, count(*) AS n FROM annotations_assignment
              WHERE NOT is_practice AND state <> 'expired' GROUP BY rater_id) a
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
