"""PPO learning on the surgical family (slow: minutes; run with ``-m slow``).

Budgets and settings are the benchmark's (``benchmarks/surgical.py``), so the numbers it reports
are the ones checked here.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

_ROOT = str(Path(__file__).resolve().parents[3])  # benchmarks/ is a top-level package of the repository
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
from benchmarks import surgical as BENCH  # noqa: E402


@pytest.mark.parametrize("name", ["PSM_PPO", "NEEDLE_PPO"])
def test_ppo_reaches_success_rate(name):
    row = BENCH.ppo_run(getattr(BENCH, name), seed=0)
    assert row["success_final"] >= 0.9, row
    assert np.isfinite(row["last_return"])
