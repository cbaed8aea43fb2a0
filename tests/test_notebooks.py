"""The example notebooks (``examples/*.ipynb``): stored without outputs, and each runs top to bottom.

Every notebook reads ``JAXRL_EXAMPLES_TINY=1`` and shrinks its budget (steps, seeds, rounds,
generations) so it runs in seconds to a few minutes; the quickstart runs in the default suite,
the others are ``slow``. Notebooks run with nbclient in the ``python3`` kernel, in a temporary
working directory (they write figures, GIFs and run directories into it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
EXPECTED = [
    "01_quickstart.ipynb",
    "02_hyperparameter_sweep.ipynb",
    "03_custom_environment.ipynb",
    "04_pbt.ipynb",
    "05_es_objective_discovery.ipynb",
    "06_load_and_render.ipynb",
]
CELL_TIMEOUT_S = 900


def test_every_example_is_there_and_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert [p.name for p in NOTEBOOKS] == EXPECTED
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        assert nb.cells[0].cell_type == "markdown", f"{path.name}: start with a title cell"
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{path.name} cell {i} has stored outputs: clear them before committing"
                assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
        sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "JAXRL_EXAMPLES_TINY" in sources, f"{path.name} has no tiny-budget switch"


def run_notebook(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("JAXRL_EXAMPLES_TINY", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    root = str(EXAMPLES.parent)  # the repository, importable from the temporary directory
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors


def test_quickstart_runs(tmp_path, monkeypatch):
    run_notebook("01_quickstart.ipynb", tmp_path, monkeypatch)
    assert (tmp_path / "quickstart_curve.png").stat().st_size > 0


@pytest.mark.slow
def test_hyperparameter_sweep_runs(tmp_path, monkeypatch):
    run_notebook("02_hyperparameter_sweep.ipynb", tmp_path, monkeypatch)
    assert (tmp_path / "sweep_intervals.png").stat().st_size > 0


@pytest.mark.slow
def test_custom_environment_runs(tmp_path, monkeypatch):
    run_notebook("03_custom_environment.ipynb", tmp_path, monkeypatch)


@pytest.mark.slow
def test_pbt_runs(tmp_path, monkeypatch):
    run_notebook("04_pbt.ipynb", tmp_path, monkeypatch)
    assert (tmp_path / "pbt_history.png").stat().st_size > 0


@pytest.mark.slow
def test_es_objective_discovery_runs(tmp_path, monkeypatch):
    run_notebook("05_es_objective_discovery.ipynb", tmp_path, monkeypatch)
    assert (tmp_path / "discovered_lpo").is_dir()


@pytest.mark.slow
def test_load_and_render_runs(tmp_path, monkeypatch):
    run_notebook("06_load_and_render.ipynb", tmp_path, monkeypatch)
    assert (tmp_path / "cartpole.gif").stat().st_size > 0
    assert (tmp_path / "runs" / "cartpole" / "scores.json").is_file()
