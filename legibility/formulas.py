"""Whether an answer written as a formula equals the ground truth, by mathematical equivalence:
Hugging Face's Math-Verify (fractions, roots, pi, intervals, sets, tuples, matrices,
percentages, units, text, degrees), bounded in time from whatever thread asks.

Math-Verify bounds its own work with SIGALRM, which only the main thread of a process may use.
In a main thread (a command, a Celery prefork or solo worker, the tests) it runs in place; in any
other thread (gunicorn's, Celery's in-process tasks in the demo) it runs in a worker process of
its own, which is killed when it overruns the deadline, so a pathological formula can never hang
the caller. A check that ran out of time is TIMED_OUT; one that could not be read, UNPARSEABLE:
states, never guesses."""

import concurrent.futures as futures
import logging
import multiprocessing
import re
import threading
from functools import lru_cache

from legibility.grading import AnswerStatus

logger = logging.getLogger(__name__)

TIMEOUT_S = 5  # Math-Verify's own bound, per parse and per comparison (whole seconds)
DEADLINE_S = 3 * TIMEOUT_S + 5  # the worker process's, over everything, start-up included

_pool: futures.ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def formulas_compare(answer: str, truth: str) -> AnswerStatus:
    """CORRECT or INCORRECT when both sides read as mathematics; UNPARSEABLE when the answer
    (or the truth) does not; TIMED_OUT when the check took too long."""
    if _as_text(answer) == _as_text(truth):  # "A,D" and "\text{A,D}": the same choices
        return AnswerStatus.CORRECT
    if threading.current_thread() is threading.main_thread():
        return _compare(answer, truth)
    return _compare_in_worker(answer, truth)


_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")


def _as_text(text: str) -> str:
    """The answer as words and symbols: text commands unwrapped, spaces and case gone."""
    return "".join(_TEXT.sub(r"\1", text).replace("$", "").split()).casefold()


def _as_math(text: str) -> str:
    """Math-Verify reads LaTeX between dollars (a bare \\{1,2\\} is not found otherwise), and
    units as \\text{...} with no space before the brace."""
    text = re.sub(r"\\text\s+\{", r"\\text{", text.strip())
    return text if "$" in text or "\\boxed" in text else f"${text}$"


@lru_cache(maxsize=4096)
def _compare(answer: str, truth: str) -> AnswerStatus:
    """In a main thread: Math-Verify with its own time bounds, which raise TimeoutException
    (a BaseException) once raise_on_error is set."""
    from math_verify import parse, verify
    from math_verify.utils import TimeoutException

    try:
        gold = parse(_as_math(truth), parsing_timeout=TIMEOUT_S, raise_on_error=True)
        target = parse(_as_math(answer), parsing_timeout=TIMEOUT_S, raise_on_error=True)
        # a parse that found text but no mathematics gives only strings
        if not _has_mathematics(gold) or not _has_mathematics(target):
            return AnswerStatus.UNPARSEABLE
        same = verify(gold, target, timeout_seconds=TIMEOUT_S, raise_on_error=True)
    except TimeoutException:
        return AnswerStatus.TIMED_OUT
    except Exception:  # the library could not read it: a state, not a guess
        logger.debug("Math-Verify could not compare %r with %r", answer, truth, exc_info=True)
        return AnswerStatus.UNPARSEABLE
    return AnswerStatus.CORRECT if same else AnswerStatus.INCORRECT


def _has_mathematics(parsed: list[object]) -> bool:
    return any(not isinstance(item, str) for item in parsed)


def _compare_in_worker(answer: str, truth: str) -> AnswerStatus:
    global _pool
    with _pool_lock:
        if _pool is None:
            # forkserver: a threaded server is never forked
            context = multiprocessing.get_context("forkserver")
            _pool = futures.ProcessPoolExecutor(max_workers=1, mp_context=context)
        pool = _pool
    pending = pool.submit(_compare, answer, truth)
    try:
        return pending.result(timeout=DEADLINE_S)
    except (futures.TimeoutError, futures.process.BrokenProcessPool):
        _kill(pool)
        return AnswerStatus.TIMED_OUT


def _kill(pool: futures.ProcessPoolExecutor) -> None:
    """Stop an overrunning worker: a pending future cannot be cancelled once running, so its
    process is killed and the next check starts a new pool."""
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    for process in list(getattr(pool, "_processes", {}).values()):  # the only handle there is
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
