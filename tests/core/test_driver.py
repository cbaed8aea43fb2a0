"""The run driver on toy programs (no agent compiled): chunks, sinks, resume, divergence, Ctrl-C, traces."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import diagnostics
from jaxrl.driver import CallbackSink, Interrupted, Program, drive, flatten_metrics
from jaxrl.errors import DivergedError
from jaxrl.runs import RunDir

SEEDS = [3, 7]


def counter_program(blow_up_at: int | None = None, traces: list | None = None) -> Program:
    """``S = 2`` runs whose ``w`` grows by 1 per update; ``w`` turns NaN at update ``blow_up_at`` (run 1 only)."""

    def update(s):
        t = s["t"] + 1
        bad = (t >= blow_up_at) & (s["i"] == 1) if blow_up_at else False
        w = jnp.where(bad, jnp.nan, s["w"] + 1.0)
        new = {"w": w, "t": t, "i": s["i"]}
        return new, {"w": w, "nonfinite": diagnostics.nonfinite_code({"params": w})}

    def make_chunk(n):
        def chunk(s):
            if traces is not None:
                traces.append(n)
            return jax.lax.scan(lambda c, _: update(c), s, None, length=n)

        return jax.jit(jax.vmap(chunk))

    return Program(total=6, init=lambda: {"w": jnp.zeros(2), "t": jnp.zeros(2, jnp.int32), "i": jnp.arange(2)},
                   make_chunk=make_chunk, labels=SEEDS)


class Recorder:
    def __init__(self):
        self.calls = []

    def write(self, first, metrics, labels):
        self.calls.append((first, {k: np.array(v) for k, v in metrics.items()}, list(labels)))

    def close(self):
        self.calls.append("closed")


def test_chunks_sinks_and_checkpoints(tmp_path):
    run, rec, steps = RunDir(tmp_path / "r"), Recorder(), []
    traces = []
    res = drive(counter_program(traces=traces), run, 2, sinks=[rec, CallbackSink(lambda s, m: steps.append(s))])
    np.testing.assert_array_equal(res.state["w"], [6.0, 6.0])
    assert [c[0] for c in rec.calls[:-1]] == [0, 2, 4] and rec.calls[-1] == "closed"
    np.testing.assert_array_equal(rec.calls[1][1]["w"], [[3, 4], [3, 4]])  # [S, n]
    assert rec.calls[0][2] == SEEDS and steps == [2, 4, 6]
    assert traces == [2]  # three equal chunks, host-side sinks: one trace
    _, meta = run.restore_checkpoint(like=res.state)
    assert meta["updates_done"] == 6 and meta["num_updates"] == 6


def test_resume_continues_from_the_checkpoint_and_says_so(tmp_path):
    run, lines = RunDir(tmp_path / "r"), []
    prog = counter_program()
    prog.total = 4  # a first session that stopped after 4 updates
    drive(prog, run, 2)
    res = drive(counter_program(), run, 2, resume=True, log=lines.append)
    assert lines == [f"resuming {run.path} from update 4 of 6"]
    assert res.resumed_from == 4 and res.done == 6
    np.testing.assert_array_equal(res.state["w"], [6.0, 6.0])


def test_divergence_stops_names_the_run_and_keeps_the_last_finite_checkpoint(tmp_path):
    run, rec = RunDir(tmp_path / "r"), Recorder()
    with pytest.raises(DivergedError) as e:
        drive(counter_program(blow_up_at=3), run, 2, sinks=[rec])
    assert e.value.diverged == {"7": {"update": 3, "quantity": "parameters"}}
    assert "seed 7 diverged at update 3 (non-finite parameters)" in str(e.value)
    assert "last finite checkpoint (at update 2)" in str(e.value)
    assert [c[0] for c in rec.calls[:-1]] == [0, 2]  # the diverged chunk reached the sinks
    state, meta = run.restore_checkpoint(like=counter_program().init())
    assert meta["updates_done"] == 2 and np.isfinite(np.asarray(state["w"])).all()


def test_ctrl_c_saves_nothing_new_and_names_the_resume_command(tmp_path):
    run = RunDir(tmp_path / "r")
    calls = []

    class Stop:
        def write(self, first, metrics, labels):
            calls.append(first)
            if first == 2:
                raise KeyboardInterrupt

        def close(self):
            pass

    msg = r"last checkpoint is at update 2 of 6; continue with: jaxrl train --resume X"
    with pytest.raises(Interrupted, match=msg):
        drive(counter_program(), run, 2, sinks=[Stop()], resume_hint="jaxrl train --resume X")
    _, meta = run.restore_checkpoint(like=counter_program().init())
    assert meta["updates_done"] == 2


def test_nonfinite_code_bits():
    ok = {"params": jnp.ones(3), "opt_state": jnp.ones(2), "hparams": {"lr": jnp.float32(1)}, "env_state": jnp.nan}
    assert int(diagnostics.nonfinite_code(ok)) == 0  # the environment state is not checked
    bad = {**ok, "opt_state": jnp.array([1.0, jnp.inf]), "hparams": {"lr": jnp.float32(jnp.nan)}}
    code = int(diagnostics.nonfinite_code(bad))
    assert diagnostics.names(code) == ["optimiser state", "hyperparameters"]
    flags = np.array([[0, 0, 3], [0, 0, 0]])
    assert diagnostics.first_divergence(flags, [5, 6], 10) == {
        "5": {"update": 13, "quantity": "parameters, optimiser state"}}


def test_flatten_metrics_shapes():
    m = flatten_metrics({"a": np.zeros((2, 3)), "b": {"c": np.ones((2, 3, 4))}}, 2)
    assert set(m) == {"a", "b/c"} and m["b/c"].shape == (2, 3)
    one = flatten_metrics({"a": np.arange(3)}, 1, batched=False)
    assert one["a"].shape == (1, 3)
    with pytest.raises(ValueError, match="runs, n"):
        flatten_metrics({"a": np.zeros((3, 3))}, 2)


def test_experiment_train_in_a_notebook_with_progress_fn():
    """jaxrl.experiment.train without a run directory: progress_fn gets every chunk; scores come back."""
    from jaxrl.agents import ppo
    from jaxrl.experiment import train

    agent = ppo.PPO(ppo.Config(num_envs=2, num_steps=16, num_minibatches=2, update_epochs=1, total_timesteps=128))
    seen = []
    scores = train(agent, seeds=[0, 1], chunk_size=2, eval_episodes=1,
                   progress_fn=lambda step, m: seen.append((step, m["env_steps"][:, -1].tolist())))
    assert seen == [(2, [64, 64]), (4, [128, 128])]
    assert set(scores["per_seed"]) == {"0", "1"} and scores["status"] == {"0": "ok", "1": "ok"}
    json.dumps(scores)
