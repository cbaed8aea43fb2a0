"""A fixed-capacity replay buffer on device, as a pytree.

Storage is time-major per environment stream: every leaf has shape
``[C, B, ...]`` (``C`` rows of ``B`` environments), written one row per
environment step at ``pos`` and wrapping around. Keeping each stream's steps
contiguous makes n-step sequences a slice along the row axis; sequences never
span the write head, so they never mix the newest and the oldest data.

Sampling is uniform over valid ``(start row, env)`` pairs, or proportional to
stored priorities (``alpha``-sharpened, with importance weights) when the
buffer was built with ``prioritized=True``. Everything is pure: ``init``,
``add`` and ``sample`` are jittable and vmappable (a leading seed axis), and
the state is an ordinary pytree, so it is checkpointed with the train state.

>>> rb = Replay(capacity=100_000, num_envs=8)
>>> state = rb.init(example_step)                # leaves [8, ...] give shapes
>>> state = rb.add(state, batch)                 # leaves [8, ...], one step
>>> sample = rb.sample(key, state, 256)          # leaves [256, ...]
>>> seqs = rb.sample(key, state, 256, length=3)  # leaves [256, 3, ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayState:
    data: Any  # leaves [C, B, ...]
    pos: jax.Array  # [] int32: the row written next
    count: jax.Array  # [] int32: rows written so far, capped at C
    priority: jax.Array  # [C, B] float32 (all ones unless prioritized)
    max_priority: jax.Array  # [] float32: priority given to new items


class Sample(struct.PyTreeNode):
    data: Any  # leaves [S, ...] or [S, length, ...]
    row: jax.Array  # [S] start row
    env: jax.Array  # [S] environment column
    weight: jax.Array  # [S] importance weight (ones when uniform)


@dataclass(frozen=True)
class Replay:
    """Buffer layout: ``capacity`` transitions in total, ``capacity // num_envs`` rows of ``num_envs``."""

    capacity: int
    num_envs: int
    prioritized: bool = False
    alpha: float = 0.6  # priority exponent (prioritized only)

    def __post_init__(self):
        for name in ("capacity", "num_envs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"Replay.{name} must be a positive integer, got {v!r}")
        if self.capacity < self.num_envs:
            raise ValueError(f"Replay.capacity={self.capacity} must be at least num_envs={self.num_envs}")
        if not self.alpha >= 0:
            raise ValueError(f"Replay.alpha must be >= 0, got {self.alpha}")

    @property
    def rows(self) -> int:
        return self.capacity // self.num_envs

    def init(self, example: Any) -> ReplayState:
        """Empty buffer shaped like ``example``, one step of all environments (leaves ``[B, ...]``)."""

        def alloc(x):
            x = jnp.asarray(x)
            if x.shape[:1] != (self.num_envs,):
                raise ValueError(f"replay init: leaves need a leading num_envs={self.num_envs} axis, got {x.shape}")
            return jnp.zeros((self.rows, self.num_envs) + x.shape[1:], x.dtype)

        return ReplayState(
            data=jax.tree.map(alloc, example),
            pos=jnp.int32(0),
            count=jnp.int32(0),
            priority=jnp.ones((self.rows, self.num_envs), jnp.float32),
            max_priority=jnp.float32(1.0),
        )

    def add(self, state: ReplayState, step: Any) -> ReplayState:
        """Write one step (leaves ``[B, ...]``) at ``pos``; overwrites the oldest row when full."""

        def put(buf, x):
            x = jnp.asarray(x, buf.dtype)
            if x.shape != buf.shape[1:]:
                raise ValueError(f"replay add: expected a leaf of shape {buf.shape[1:]}, got {x.shape}")
            return jax.lax.dynamic_update_index_in_dim(buf, x, state.pos, axis=0)

        return state.replace(
            data=jax.tree.map(put, state.data, step),
            pos=(state.pos + 1) % self.rows,
            count=jnp.minimum(state.count + 1, self.rows),
            priority=state.priority.at[state.pos].set(state.max_priority),
        )

    def add_many(self, state: ReplayState, steps: Any) -> ReplayState:
        """Write ``T`` steps (leaves ``[T, B, ...]``) in order."""
        return jax.lax.scan(lambda s, x: (self.add(s, x), None), state, steps)[0]

    def size(self, state: ReplayState) -> jax.Array:
        """Number of transitions stored."""
        return state.count * self.num_envs

    def can_sample(self, state: ReplayState, length: int = 1) -> jax.Array:
        return state.count >= length

    def sample(self, key: jax.Array, state: ReplayState, batch_size: int, length: int | None = None,
               beta: float | jax.Array = 0.4) -> Sample:
        """``batch_size`` items (leaves ``[S, ...]``) or sequences of ``length`` steps (``[S, length, ...]``).

        A sequence starts at one of the ``count - length + 1`` oldest-first
        rows, so it never crosses the write head. Sampling an empty buffer (or
        one with fewer rows than ``length``) returns row-0 data with zero
        weights; check :meth:`can_sample`. ``beta`` is the importance-weight
        exponent (prioritized only).
        """
        n = 1 if length is None else length
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.rows:
            raise ValueError(f"sequence length must be an int in [1, {self.rows}], got {length!r}")
        valid_rows = jnp.maximum(state.count - n + 1, 0)  # start offsets 0..valid_rows-1 from the oldest row
        oldest = jnp.where(state.count < self.rows, 0, state.pos)
        if self.prioritized:
            offset, env, weight = self._prioritized(key, state, batch_size, valid_rows, oldest, beta)
        else:
            k_row, k_env = jax.random.split(key)
            offset = jax.random.randint(k_row, (batch_size,), 0, jnp.maximum(valid_rows, 1))
            env = jax.random.randint(k_env, (batch_size,), 0, self.num_envs)
            weight = jnp.where(valid_rows > 0, 1.0, 0.0) * jnp.ones((batch_size,), jnp.float32)
        row = (oldest + offset) % self.rows
        if length is None:
            data = jax.tree.map(lambda x: x[row, env], state.data)
        else:
            rows = (row[:, None] + jnp.arange(n)) % self.rows  # [S, n]
            data = jax.tree.map(lambda x: x[rows, env[:, None]], state.data)
        return Sample(data=data, row=row, env=env, weight=weight)

    def _prioritized(self, key, state, batch_size, valid_rows, oldest, beta):
        offsets = (jnp.arange(self.rows) - oldest) % self.rows  # [C] offset of each row from the oldest
        valid = (offsets < valid_rows)[:, None]  # [C, 1]
        p = jnp.where(valid, state.priority ** self.alpha, 0.0).reshape(-1)  # [C*B]
        total = jnp.sum(p)
        logits = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), -jnp.inf)
        flat = jax.random.categorical(key, logits, shape=(batch_size,))
        row, env = flat // self.num_envs, flat % self.num_envs
        prob = p[flat] / jnp.maximum(total, 1e-12)
        n_valid = valid_rows * self.num_envs
        w = (n_valid * prob) ** (-beta)
        w = jnp.where(total > 0, w / jnp.max(w), 0.0)
        return (row - oldest) % self.rows, env, w.astype(jnp.float32)

    def update_priorities(self, state: ReplayState, sample: Sample, priority: jax.Array) -> ReplayState:
        """Set the priority of sampled items (e.g. ``|td_error| + eps``, ``[S]``)."""
        priority = jnp.asarray(priority, jnp.float32)
        return state.replace(
            priority=state.priority.at[sample.row, sample.env].set(priority),
            max_priority=jnp.maximum(state.max_priority, jnp.max(priority)),
        )
