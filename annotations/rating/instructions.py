"""The instructions raters read before they start: Markdown, rendered and then sanitised, so a
campaign's text can format but never script."""

import functools

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

DEFAULT_INSTRUCTIONS = """\
## What you will do

You will read short solutions to grade-school math word problems, one at a time, and decide
whether each **solution is correct**.

- A solution is correct only if **every step** is right and it reaches the right final answer.
  A right answer reached through a wrong step is incorrect; so is a careful-looking solution
  with one small slip.
- You have **{time_limit} seconds** per solution. A countdown shows the time left. When it
  reaches zero, give your best guess straight away: answers that come too late are recorded
  as timeouts.
- Answer with the buttons, or with the keys **C** (correct) and **I** (incorrect), or ← and →.
- You may use scratch paper, but no calculator, search engine or other help.
- First come a few practice questions that tell you whether you were right. After that you
  will not be told: that is expected.
- Take a break between sessions whenever you like; you can close the page and come back.

## Consent

Your answers and the time you take are recorded under a pseudonym, not your name, and used to
study how easy it is for people to check solutions written by AI systems. You can stop at any
time.
"""


# the rater's view asks for them on every page: rendered once per text and time limit
@functools.lru_cache(maxsize=64)
def render_instructions(text: str, *, time_limit_s: int) -> SafeString:
    source = (text or DEFAULT_INSTRUCTIONS).replace("{time_limit}", str(time_limit_s))
    html = markdown.markdown(source, extensions=["sane_lists"])
    return mark_safe(nh3.clean(html))
