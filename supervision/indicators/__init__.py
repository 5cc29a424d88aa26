"""Indicators, comprehensive score and ranking of the operators (spec/RULES.md §3, seed C1).

- :mod:`.indicators`: the eight indicators per operator and period, in SQL over the anomaly ledger (``compute``);
- :mod:`.ranking`: score, rank, change versus the previous period, stored with the configuration version
  (``ranking(db_session, scope, first, last)``, ``refresh``, ``rebuild``, ``recompute_dirty``);
- :mod:`.explain`: the documents that lowered an indicator;
- :mod:`.jobs`: the ``ranking`` job kind's handler (``ranking_handlers``);
- :mod:`.periods`: months, quarters, day ranges and their previous period.
"""

from supervision.indicators.explain import explain
from supervision.indicators.indicators import INDICATORS, NAMES, OperatorIndicators, compute
from supervision.indicators.periods import Period, parse
from supervision.indicators.ranking import Ranking, RankingRow, ranking, rebuild, recompute_dirty, refresh

__all__ = ["INDICATORS", "NAMES", "OperatorIndicators", "Period", "Ranking", "RankingRow", "compute", "explain",
           "parse", "ranking", "rebuild", "recompute_dirty", "refresh"]
