"""Packaging: the wheel holds every subpackage under its installed name, and importing
jaxrl (or listing environments, or the CLI) never imports the heavy physics stacks."""

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> installed package (see setup.py)
ROOTS = {"jaxrl": "jaxrl", "envs": "jaxrl/envs", "agents": "jaxrl/agents", "meta": "jaxrl/meta"}


def expected_packages(root: Path) -> set[str]:
    """Every source folder with an ``__init__.py``, mapped to its path inside the wheel."""
    out = set()
    for folder, installed in ROOTS.items():
        for init in (root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(root / folder)
            if "__pycache__" not in rel.parts:
                out.add(installed if rel == Path(".") else f"{installed}/{rel.as_posix()}")
    return out


def _can_build_offline() -> bool:
    """setuptools >= 70.1 builds wheels itself; older ones need the `wheel` package (else build isolated)."""
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[zipfile.ZipFile, Path]:
    """Build a wheel from a copy of the source tree (keeps build/ and *.egg-info out of the checkout)."""
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for folder in ROOTS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    if _can_build_offline():
        cmd.insert(5, "--no-build-isolation")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    (path,) = out.glob("jaxrl-*.whl")
    return zipfile.ZipFile(path), src  # the copy is the reference (the checkout may change meanwhile)


def test_wheel_contains_every_subpackage(wheel):
    whl, src = wheel
    names = set(whl.namelist())
    expected = expected_packages(src)
    assert {"jaxrl", "jaxrl/envs", "jaxrl/envs/control", "jaxrl/agents", "jaxrl/meta"} <= expected
    missing = sorted(p for p in expected if f"{p}/__init__.py" not in names)
    assert not missing, f"subpackages missing from the wheel: {missing}"
    # every source module of each package is there, too
    for folder, installed in ROOTS.items():
        for py in (src / folder).rglob("*.py"):
            rel = py.relative_to(src / folder).as_posix()
            if "__pycache__" not in rel and (py.parent / "__init__.py").exists():
                assert f"{installed}/{rel}" in names, f"{installed}/{rel} missing from the wheel"


def test_wheel_layout_and_entry_point(wheel):
    whl, _ = wheel
    names = whl.namelist()
    assert not [n for n in names if n.split("/")[0] in ("envs", "agents", "meta", "tests", "benchmarks")]
    (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = whl.read(ep).decode()
    assert "[console_scripts]" in text and "jaxrl = jaxrl.cli:main" in text


def test_import_jaxrl_stays_light():
    """`import jaxrl`, listing environments, the CLI module and version records must not import brax or mujoco."""
    code = (
        "import sys, jaxrl, jaxrl.cli, jaxrl.runs\n"
        "ids = jaxrl.list_envs(); jaxrl.runs.versions()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('brax', 'mujoco', 'mujoco_mjx'))\n"
        "assert 'CartPole-v1' in ids, ids\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
