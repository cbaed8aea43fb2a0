"""Metric sinks: TensorBoard event files read back, W&B in offline mode, no retrace from logging."""

import json
import struct
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.driver import Program, drive
from jaxrl.sinks import TensorBoardSink, make_sinks


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value)]}`` from the TFRecord event files in ``folder`` (tensorboardX's protobufs)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for f in sorted(folder.glob("events.out.tfevents.*")):
        data = f.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            ev = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in ev.summary.value:
                out.setdefault(v.tag, []).append((ev.step, v.simple_value))
    return out


def metrics_chunk(first: int, n: int) -> dict[str, np.ndarray]:
    t = np.arange(first + 1, first + n + 1, dtype=np.float64)
    ret = np.stack([t * 10, t * 20])
    if first == 0:
        ret[0, 0] = np.nan  # no episode ended: skipped
    return {"episode_return": ret, "env_steps": np.stack([t * 8, t * 8]).astype(np.int64), "loss": np.stack([-t, t])}


def test_tensorboard_values_read_back(tmp_path):
    sink = TensorBoardSink(tmp_path / "tb")
    sink.write(0, metrics_chunk(0, 2), [4, 5])
    sink.write(2, metrics_chunk(2, 2), [4, 5])
    sink.close()
    ev4, ev5 = read_events(tmp_path / "tb" / "seed_4"), read_events(tmp_path / "tb" / "seed_5")
    assert ev4["episode_return"] == [(16, 20.0), (24, 30.0), (32, 40.0)]  # NaN at step 8 skipped
    assert ev5["loss"] == [(8, 1.0), (16, 2.0), (24, 3.0), (32, 4.0)]
    assert "env_steps" not in ev4  # the step axis, not a scalar


def test_logging_never_retraces_a_chunk(tmp_path):
    traces = []

    def make_chunk(n):
        def chunk(s):
            traces.append(n)
            return jax.lax.scan(lambda c, _: (c + 1, {"env_steps": (c + 1) * 8, "loss": c * 1.0}), s, None, length=n)

        return jax.jit(jax.vmap(chunk))

    prog = Program(total=8, init=lambda: jnp.zeros(2, jnp.int32), make_chunk=make_chunk, labels=[0, 1])
    sink = TensorBoardSink(tmp_path / "tb")
    drive(prog, None, 2, sinks=[sink])
    assert traces == [2]
    assert [s for s, _ in read_events(tmp_path / "tb" / "seed_1")["loss"]] == [8, 16, 24, 32, 40, 48, 56, 64]


def wandb_history(path: Path, key: str) -> list[float]:
    """Distinct values logged under ``key`` in an offline W&B run file, in order (history and summary
    records both hold items: the key, then its JSON value)."""
    import re

    data, k = path.read_bytes(), key.encode()
    pat = re.compile(re.escape(b"\x12" + bytes([len(k)]) + k + b"\x82\x01"))
    out = []
    for m in pat.finditer(data):
        n = data[m.end()]
        out.append(float(data[m.end() + 1 : m.end() + 1 + n]))
    return list(dict.fromkeys(out))


def test_wandb_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")

    class Run:
        path = tmp_path / "run-x"

    Run.path.mkdir()
    (sink,) = make_sinks(["csv", "wandb"], Run, {"algo": "ppo"})
    sink.write(0, metrics_chunk(0, 3), [4, 5])
    sink.close()
    import time

    deadline = time.time() + 60  # the W&B service may still be flushing its files after finish()
    while True:
        files = list((Run.path / "wandb").glob("offline-run-*/*.wandb"))
        if (len(files) == 2 and all(len(wandb_history(f, "loss")) == 3 for f in files)) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert len(files) == 2
    by_loss = {tuple(wandb_history(f, "loss")): f for f in files}
    assert set(by_loss) == {(-1.0, -2.0, -3.0), (1.0, 2.0, 3.0)}  # seed 4 logs -t, seed 5 logs t
    seed5 = by_loss[(1.0, 2.0, 3.0)]
    assert wandb_history(seed5, "episode_return") == [20.0, 40.0, 60.0]
    assert wandb_history(seed5, "_step") == [8.0, 16.0, 24.0]  # env steps
    assert wandb_history(by_loss[(-1.0, -2.0, -3.0)], "episode_return") == [20.0, 30.0]  # NaN not logged


def test_unknown_sink_is_a_user_error(tmp_path):
    from jaxrl.errors import UserError

    with pytest.raises(UserError, match="unknown metric sink 'mlflow'"):
        make_sinks(["mlflow"], None, {})


@pytest.mark.slow
def test_pbt_logs_to_tensorboard_per_member(tmp_path):
    from jaxrl.meta import pbt_cli

    out = tmp_path / "pbt"
    argv = ["ppo", "--population", "2", "--rounds", "2", "--updates-per-round", "1", "--fitness", "train",
            "--search", "lr=1e-4:1e-2:log", "--out", str(out), "--no-progress", "--log", "tensorboard"]
    for k, v in dict(total_timesteps=2 * 4 * 8, num_envs=4, num_steps=8, num_minibatches=1, update_epochs=1,
                     actor_hidden=(8,), critic_hidden=(8,)).items():
        argv += ["--set", f"{k}={v}"]
    assert pbt_cli.main(argv) == 0
    ev = read_events(out / "tensorboard" / "member_1")
    assert [s for s, _ in ev["parent"]] == [1, 2] and [s for s, _ in ev["hparams/lr"]] == [1, 2]  # per round
    hist = json.loads((out / "history.json").read_text())
    assert [v for _, v in ev["parent"]] == [float(r[1]) for r in hist["parent"]]
