"""PPO learning on the surgical family (slow: minutes; run with ``-m slow``).

Budgets and settings are the benchmark's (``benchmarks/surgical.py``), so the numbers it reports
are the ones checked here.
"""

import numpy as np
import pytest

from benchmarks import surgical as BENCH  # the repository root is on sys.path (pyproject: pythonpath)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["PSM_PPO", "NEEDLE_PPO"])
def test_ppo_reaches_success_rate(name):
    row = BENCH.ppo_run(getattr(BENCH, name), seed=0)
    assert row["success_final"] >= 0.9, row
    assert np.isfinite(row["last_return"])
