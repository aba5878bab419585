"""Simulated time for raters simulated in this process.

A simulated rater waits only a fraction of its reading time (``--time-scale``), so that a demo
finishes in seconds. In this process the server's clock can be made to agree with the rater's:
each rater's thread gets a clock of its own that moves on by the whole simulated time, and the
times the app records (issue, answer, ``server_ms``, timeouts) are those of the simulation.

Each thread's clock starts in the past (``start``), so the simulated sessions end before the
real present and nothing is stamped in the future."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

from django.utils import timezone

_state = threading.local()


@contextmanager
def simulated_clocks() -> Iterator[None]:
    """While inside, ``django.utils.timezone.now`` reads the calling thread's simulated clock
    (real time, for a thread that did not ``start`` one)."""
    real_now = timezone.now

    def now() -> datetime:
        return real_now() + getattr(_state, "offset", timedelta())

    with mock.patch.object(timezone, "now", now):
        yield


def start(behind: timedelta) -> None:
    """Start this thread's clock ``behind`` the real time."""
    _state.offset = -behind


def advance(seconds: float) -> None:
    """Move this thread's clock on by ``seconds`` more than the real time that passes."""
    _state.offset = getattr(_state, "offset", timedelta()) + timedelta(seconds=seconds)
