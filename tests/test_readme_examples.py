"""The README's "Adding an agent" example runs as written (registration, check_agent) at a tiny budget."""

import re
from pathlib import Path

import jaxrl

README = Path(__file__).resolve().parents[1] / "README.md"


def section_code(title: str) -> str:
    text = README.read_text()
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    return code


def test_adding_an_agent_example_passes_check_agent(monkeypatch):
    from jaxrl import agent as registry

    monkeypatch.setattr(registry, "_AGENTS", dict(registry._AGENTS))  # the example registers "reinforce"
    code = section_code("Adding an agent")
    code = code.replace("seeds=range(4))", "seeds=range(2), eval_episodes=1)")
    code = code.replace('jaxrl.make_agent("reinforce")', 'jaxrl.make_agent("reinforce", total_timesteps=512)')
    namespace = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)
    assert "reinforce" in jaxrl.list_agents()
    assert set(namespace["scores"]["per_seed"]) == {"0", "1"}


def test_readme_links_every_example_notebook():
    notebooks = sorted(p.name for p in (README.parent / "examples").glob("*.ipynb"))
    text = README.read_text()
    assert len(notebooks) >= 6
    for name in notebooks:
        assert f"](examples/{name})" in text, f"README does not link examples/{name}"
