"""The sources and docs name no machine-local paths (they must read the same on every checkout), and no test
or benchmark edits ``sys.path`` (pyproject's ``pythonpath`` puts the repository root on it for pytest)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = re.compile(r"(?<![\w.])/(?:work|home|Users|root)/|[A-Za-z]:\\Users\\")


def test_no_machine_local_paths_in_sources_and_docs():
    hits = []
    for folder in ("jaxrl", "envs", "agents", "meta", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".md", ".toml") or "results" in path.parts or path == Path(__file__):
                continue
            for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if LOCAL.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    for path in (ROOT / "README.md", ROOT / "pyproject.toml"):
        hits += [f"{path.name}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1) if LOCAL.search(line)]
    assert not hits, "machine-local paths:\n" + "\n".join(hits)


def test_no_sys_path_edits_in_tests_and_benchmarks():
    edit = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*[+]?=")
    files = [p for folder in ("tests", "benchmarks") for p in sorted((ROOT / folder).rglob("*.py"))]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files if p != Path(__file__)
            for i, line in enumerate(p.read_text().splitlines(), 1) if edit.search(line)]
    assert not hits, "sys.path edits (run modules alone through pyproject's pythonpath instead): " + ", ".join(hits)
