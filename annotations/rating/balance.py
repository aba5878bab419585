"""Balance without predictability: which balance keys a rater's next item may come from.

Serving the least-seen key every time balances perfectly but leaks: in a campaign of two keys
(correct and incorrect solutions) the order would be ICICIC…, and a rater who remembers their
own answers could guess the next item's correctness. Instead the next key is drawn at random
from every key that keeps the rater within bounds:

- at all times, the rater's counts of any two keys differ by at most ``SPREAD``;
- at the end of each session they differ by at most ``SESSION_END_SPREAD``, which the draw
  keeps within reach: a key is eligible only if the items left in the session can still bring
  the counts that close.

With two keys and 20-item sessions, the best guess of the next key (knowing this rule and the
rater's whole history) is right 58 % of the time rather than 100 %
(tests/annotations/test_balance.py computes it). Pure: no queries."""

from bisect import bisect_left
from itertools import accumulate

SPREAD = 3
SESSION_END_SPREAD = 2


def eligible_keys(keys: list[str], counts: dict[str, int], *, left_in_session: int) -> list[str]:
    """The keys the next item may come from, each to be drawn with equal chance.

    ``counts`` are the rater's items per key so far; ``left_in_session`` counts the item about
    to be issued. When no key keeps every bound (a key ran out of items, a checkpoint arrived
    mid-session), the keys that come closest are returned."""
    if not keys:
        return []
    seen = [counts.get(key, 0) for key in keys]
    ordered = sorted(seen)
    prefix = [0, *accumulate(ordered)]
    low, high = ordered[0], ordered[-1]
    lows = ordered.count(low)

    def after(count: int) -> tuple[int, int]:
        """(spread, items needed to reach the session-end bound) once a key at ``count`` is
        drawn."""
        new_high = max(high, count + 1)
        new_low = low + 1 if count == low and lows == 1 else low
        target = new_high - SESSION_END_SPREAD
        # items every key below the target needs, from the sorted counts: sum of target - c
        below = bisect_left(ordered, target)
        needed = target * below - prefix[below]
        if count < target:  # the drawn key moves one closer
            needed -= 1
        return new_high - new_low, needed

    outcomes = {key: after(count) for key, count in zip(keys, seen, strict=True)}
    within = [key for key in keys if outcomes[key][0] <= SPREAD]
    if not within:
        return [key for key, count in zip(keys, seen, strict=True) if count == low]
    reachable = [key for key in within if outcomes[key][1] <= left_in_session - 1]
    if reachable:
        return reachable
    closest = min(outcomes[key][1] for key in within)
    return [key for key in within if outcomes[key][1] == closest]
