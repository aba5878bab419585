"""The trend over rounds: a logistic GEE of a correct label on the round, errors clustered by
rater."""

import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from annotations.analysis.rows import CONFIDENCE, Row, Timeouts, rows_counted


@dataclass(frozen=True)
class Trend:
    run: str
    role: str
    slope: float  # log-odds of a correct label per round
    low: float
    high: float
    p_value: float
    judgments: int


def round_trends(rows: Iterable[Row], *, timeouts: Timeouts = Timeouts.WRONG) -> list[Trend]:
    """A logistic model of a correct label on the round, errors clustered by rater (GEE with
    an exchangeable working correlation), per run and role with at least two rounds."""
    import pandas as pd
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows_counted(list(rows), timeouts):
        if row.round is not None:
            groups[(row.run, row.role)].append(row)
    trends = []
    for (run, role), group in sorted(groups.items()):
        if len({row.round for row in group}) < 2 or len({row.rater for row in group}) < 2:
            continue
        frame = pd.DataFrame(
            {
                "correct": [int(row.rater_correct) for row in group],
                "round": [row.round for row in group],
                "rater": [row.rater for row in group],
            }
        )
        model = smf.gee(
            "correct ~ round",
            groups="rater",
            data=frame,
            family=sm.families.Binomial(),
            cov_struct=sm.cov_struct.Exchangeable(),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = model.fit()
            low, high = fit.conf_int(alpha=1 - CONFIDENCE).loc["round"]
            p_value = fit.pvalues["round"]
        # Too few judgments, or all of them right: the numbers come out infinite, or finite but
        # meaningless (an interval of ±1e-9 around 0). Either way there is no trend to show.
        separated = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
        if separated or not np.all(np.isfinite([fit.params["round"], low, high, p_value])):
            continue
        trends.append(
            Trend(
                run=run,
                role=role,
                slope=float(fit.params["round"]),
                low=float(low),
                high=float(high),
                p_value=float(p_value),
                judgments=len(group),
            )
        )
    return trends
