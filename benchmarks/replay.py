"""Replay buffer: jaxrl's :class:`jaxrl.replay.Replay` vs flashbax (when installed).

``python -m benchmarks.replay`` times, inside one jitted ``lax.scan``, a
training-loop pattern: add one step of ``num_envs`` transitions, then sample a
batch (uniform items, and 3-step sequences), for a buffer of ``capacity``
transitions (CartPole-sized items: obs 4, action, reward, flags, next_obs).
flashbax (``pip install flashbax``; not a jaxrl dependency) is timed with
its trajectory buffer laid out the same way. Prints a table and writes a JSON
record.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import jax
import jax.numpy as jnp

from benchmarks.common import print_table, write_result
from jaxrl.replay import Replay


def item(num_envs: int) -> dict:
    return {
        "obs": jnp.ones((num_envs, 4)),
        "action": jnp.ones((num_envs,), jnp.int32),
        "reward": jnp.ones((num_envs,)),
        "terminated": jnp.zeros((num_envs,), bool),
        "truncated": jnp.zeros((num_envs,), bool),
        "next_obs": jnp.ones((num_envs, 4)),
    }


def jaxrl_loop(capacity: int, num_envs: int, batch: int, length: int | None, steps: int):
    rb = Replay(capacity, num_envs)

    def run(key):
        def body(c, k):
            st, acc = c
            st = rb.add(st, item(num_envs))
            s = rb.sample(k, st, batch, length)
            return (st, acc + jnp.sum(s.data["obs"])), None

        return jax.lax.scan(body, (rb.init(item(num_envs)), 0.0), jax.random.split(key, steps))[0][1]

    return jax.jit(run)


def flashbax_loop(capacity: int, num_envs: int, batch: int, length: int | None, steps: int):
    import flashbax as fbx

    seq = length or 1
    buf = fbx.make_trajectory_buffer(add_batch_size=num_envs, sample_batch_size=batch, sample_sequence_length=seq,
                                     period=1, min_length_time_axis=seq, max_size=capacity)
    one = jax.tree.map(lambda x: x[0], item(num_envs))

    def run(key):
        def body(c, k):
            st, acc = c
            st = buf.add(st, jax.tree.map(lambda x: x[:, None], item(num_envs)))
            s = buf.sample(st, k).experience
            return (st, acc + jnp.sum(s["obs"])), None

        return jax.lax.scan(body, (buf.init(one), 0.0), jax.random.split(key, steps))[0][1]

    return jax.jit(run)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--capacity", type=int, default=100_000)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20_000)
    args = p.parse_args(argv)
    impls = {"jaxrl": jaxrl_loop}
    if importlib.util.find_spec("flashbax") is not None:
        impls["flashbax"] = flashbax_loop
    rows = []
    for length in (None, 3):
        for name, make in impls.items():
            fn = make(args.capacity, args.num_envs, args.batch, length, args.steps)
            jax.block_until_ready(fn(jax.random.key(0)))
            best = float("inf")
            for r in range(3):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(jax.random.key(r + 1)))
                best = min(best, time.perf_counter() - t0)
            rows.append({
                "buffer": name,
                "sample": "items" if length is None else f"{length}-step sequences",
                "add+sample per s": round(args.steps / best),
                "us per add+sample": round(best / args.steps * 1e6, 1),
            })
            print_table(rows[-1:])
    print_table(rows, title="replay buffers: add one step + sample one batch, in lax.scan")
    record = {"args": vars(args), "rows": rows}
    if "flashbax" in impls:
        from importlib.metadata import version

        record["flashbax_version"] = version("flashbax")
    write_result("replay", record)
    return record


if __name__ == "__main__":
    main()
