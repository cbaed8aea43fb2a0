"""The learned-policy-gradient network: a backward-in-time GRU over an agent's trajectory.

Per step ``t`` of a ``[T, B]`` trajectory the network reads

    r_t, d_t, gamma, pi(a_t|s_t), phi(y(s_t)), phi(y(s_{t+1}))      (+ n/N, log N for TA-LPG)

where ``d_t`` is 1 when the episode *terminated* at ``t`` (no bootstrap; a truncation keeps
``d_t = 0`` and ``y(s_{t+1})`` is the prediction at the true terminal observation), ``y`` is the
agent's ``m``-way categorical prediction vector and ``phi`` a shared MLP ``[16, 1]`` that embeds
a prediction vector into a scalar. The GRU runs from ``t = T - 1`` down to ``0``; its state is
reset to zero wherever an episode ended at ``t`` (terminated *or* truncated), so nothing flows
backwards across an episode boundary. From the state at ``t`` two linear heads give
``pi_hat_t`` (a scalar) and the logits of ``y_hat_t`` (softmax over ``m``).

TA-LPG (``time_aware=True``) appends ``n / N`` and ``log N`` to every step, with ``n`` the
agent's update index and ``N`` its lifetime in updates.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.networks import orthogonal

Y_DIM = 8  # size of the agent's categorical prediction vector y


class LPGInputs(NamedTuple):
    """What the learned rule sees of one update's trajectory (leading axes ``[T, B]``)."""

    reward: jax.Array  # [T, B]
    terminated: jax.Array  # [T, B] bool: episode terminated at t (d_t; no bootstrap)
    done: jax.Array  # [T, B] bool: episode ended at t (terminated or truncated): recurrent reset
    gamma: jax.Array  # [] or [T, B]
    pi_a: jax.Array  # [T, B] probability of the action taken, pi(a_t | s_t)
    y: jax.Array  # [T, B, m] prediction at s_t (probabilities)
    y_next: jax.Array  # [T, B, m] prediction at the true successor s_{t+1}
    progress: jax.Array  # [] n / N (used by TA-LPG only)
    log_lifetime: jax.Array  # [] log N (used by TA-LPG only)


def time_inputs(update: jax.Array, lifetime: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(n / N, log N)`` for update ``n`` (0-based) of a lifetime of ``N`` updates."""
    n = jnp.asarray(update, jnp.float32)
    big_n = jnp.asarray(lifetime, jnp.float32)
    return n / big_n, jnp.log(big_n)


def backward_gru(w_in: jax.Array, w_h: jax.Array, b: jax.Array, x: jax.Array, reset: jax.Array) -> jax.Array:
    """GRU states ``[T, B, H]`` computed from ``t = T - 1`` down to ``0``.

    ``x``: ``[T, B, F]`` inputs; ``reset``: ``[T, B]`` -- where true, the state arriving from
    ``t + 1`` is replaced by zeros before step ``t`` (an episode ended at ``t``). The state
    entering ``t = T - 1`` is zero. Gates ``(r, z, n)`` as in Cho et al. (2014).
    """
    hidden = w_h.shape[0]
    xi = x @ w_in + b  # [T, B, 3H]

    def step(h, inp):
        xi_t, reset_t = inp
        h = jnp.where(reset_t[:, None], 0.0, h)
        hh = h @ w_h
        r = jax.nn.sigmoid(xi_t[:, :hidden] + hh[:, :hidden])
        z = jax.nn.sigmoid(xi_t[:, hidden : 2 * hidden] + hh[:, hidden : 2 * hidden])
        n = jnp.tanh(xi_t[:, 2 * hidden :] + r * hh[:, 2 * hidden :])
        h = (1.0 - z) * n + z * h
        return h, h

    h0 = jnp.zeros((x.shape[1], hidden), x.dtype)
    _, hs = jax.lax.scan(step, h0, (xi, reset), reverse=True)
    return hs


class LPGNetwork(nn.Module):
    """``(pi_hat [T, B], y_hat_logits [T, B, m])`` from :class:`LPGInputs`."""

    hidden: int = 256
    y_dim: int = Y_DIM
    embed_hidden: int = 16
    time_aware: bool = False

    @nn.compact
    def __call__(self, x: LPGInputs) -> tuple[jax.Array, jax.Array]:
        embed = nn.Sequential(
            [nn.Dense(self.embed_hidden, name="embed_hidden"), jnp.tanh, nn.Dense(1, name="embed_out")]
        )
        shape = x.reward.shape
        feats = [
            x.reward,
            x.terminated.astype(jnp.float32),
            jnp.broadcast_to(x.gamma, shape),
            x.pi_a,
            embed(x.y)[..., 0],
            embed(x.y_next)[..., 0],
        ]
        if self.time_aware:
            feats += [jnp.broadcast_to(x.progress, shape), jnp.broadcast_to(x.log_lifetime, shape)]
        inp = jnp.stack([jnp.asarray(f, jnp.float32) for f in feats], axis=-1)  # [T, B, F]
        h = self.hidden
        w_in = self.param("gru_w_in", nn.initializers.lecun_normal(), (inp.shape[-1], 3 * h))
        w_h = self.param("gru_w_h", orthogonal(1.0), (h, 3 * h))
        b = self.param("gru_b", nn.initializers.zeros, (3 * h,))
        hs = backward_gru(w_in, w_h, b, inp, x.done)
        pi_hat = nn.Dense(1, name="pi_hat")(hs)[..., 0]
        y_hat_logits = nn.Dense(self.y_dim, name="y_hat")(hs)
        return pi_hat, y_hat_logits

    def init_params(self, key: jax.Array) -> dict:
        """Parameters from a dummy ``[1, 1]`` trajectory."""
        z = jnp.zeros((1, 1), jnp.float32)
        y = jnp.full((1, 1, self.y_dim), 1.0 / self.y_dim)
        dummy = LPGInputs(z, z.astype(bool), z.astype(bool), jnp.float32(0.99), z, y, y, jnp.float32(0), jnp.float32(0))
        return self.init(key, dummy)["params"]


def save_rule(path: Any, rule: LPGNetwork, params: Any, metadata: dict | None = None) -> str:
    """Write a rule's parameters and architecture (``hidden``, ``y_dim``, ``embed_hidden``, ``time_aware``)."""
    from jaxrl import checkpoint

    arch = {
        "hidden": rule.hidden,
        "y_dim": rule.y_dim,
        "embed_hidden": rule.embed_hidden,
        "time_aware": rule.time_aware,
    }
    return checkpoint.save(path, params, {"lpg_rule": arch, **dict(metadata or {})})


def load_rule(path: Any) -> tuple[LPGNetwork, Any, dict]:
    """``(rule, params, metadata)`` from :func:`save_rule`; a folder that is not a saved rule raises ``ValueError``."""
    from jaxrl import checkpoint

    meta = checkpoint.read_metadata(path)
    if "lpg_rule" not in meta:
        raise ValueError(f"{path} is not a saved LPG rule (no 'lpg_rule' in its metadata)")
    rule = LPGNetwork(**meta["lpg_rule"])
    params, meta = checkpoint.restore(path, jax.eval_shape(rule.init_params, jax.random.key(0)))
    return rule, params, meta
