"""The training loop shared by rollout-based agents (PPO, PQN, ...), as :mod:`jaxrl.offpolicy` is for replay agents.

One update (:meth:`OnPolicyAgent.update_step`):

1. the agent's :meth:`~OnPolicyAgent.prepare` rolls out ``num_steps`` steps of
   ``num_envs`` environments with the current parameters and turns the
   trajectory into a flat training batch (advantages, targets, normalisation);
2. ``update_epochs`` passes of ``num_minibatches`` Adam steps on the agent's
   :meth:`~OnPolicyAgent.loss`, with the parameters raveled into one vector
   (one fused Adam update) and the learning rate annealed linearly to 0 over
   the run when ``cfg.anneal_lr``;
3. the metrics: episode statistics of the rollout, ``env_steps``, the mean
   losses, and whatever the agent's ``prepare`` adds.

An agent subclasses :class:`OnPolicyAgent`, defines its ``State`` (a struct
dataclass with at least the fields of :class:`OnPolicyState`) and supplies
``build``, ``initial_state``, ``prepare``, ``loss`` and ``greedy_action``.
``init``, ``train_chunk``, ``evaluate``, ``metric_names`` and ``make_train``
come from the base.

The environment is ``cfg.env_id`` unless the agent is given one:
``PPO(cfg, env=my_env, env_params=p)`` trains on an :class:`jaxrl.Environment`
object without registering it (``cfg.env_params`` overrides still apply).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
from flax import struct
from jax.flatten_util import ravel_pytree

from jaxrl.agent_env import AgentEnv, agent_env, evaluate_policy
from jaxrl.config import resolve_hparams
from jaxrl.env import Environment
from jaxrl.optim import adam_step
from jaxrl.rollout import EnvCarry, Transition, episode_mean, scan_updates, sgd_epochs


@struct.dataclass
class OnPolicyState:
    """The fields every on-policy state has (agents' states add theirs; a checkpoint saves the state)."""

    params: Any  # network parameters
    opt_state: Any  # Adam moments (flat [num_params] vectors) and count
    env_state: Any  # [B, ...] batched environment state
    obs: jax.Array  # [B, obs_dim] current raw observations
    key: jax.Array  # PRNG key of the next update
    update: jax.Array  # [] int32, updates done
    hparams: Any  # traced hyperparameters of this run


def with_nonfinite(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` plus the divergence flag ``scan_updates`` adds to every chunk's metrics (when it does)."""
    try:
        from jaxrl.diagnostics import NONFINITE
    except ImportError:  # pragma: no cover - older core without the divergence detector
        return names
    return (*names, NONFINITE)


class OnPolicyAgent:
    """Base class of rollout-based agents; ``vmap`` its pure methods over keys and states."""

    config_type: ClassVar[type]
    name: ClassVar[str] = "agent"
    kinds: ClassVar[tuple[str, ...]] = ("categorical", "multi_categorical", "gaussian")
    continuous_mode: ClassVar[str] = "clip"  # Box actions: "clip" (Gaussian policies) or "rescale" (tanh)
    learner_metrics: ClassVar[tuple[str, ...]] = ()  # loss metrics of :meth:`loss` (and ``grad_norm``)
    extra_metrics: ClassVar[tuple[str, ...]] = ()  # metrics :meth:`prepare` adds
    report_grad_norm: ClassVar[bool] = False  # add the pre-clip gradient norm as metric ``grad_norm``

    def __init__(self, cfg: Any, *, env: str | Environment | None = None, env_params: Any = None):
        if not isinstance(cfg, self.config_type):
            raise TypeError(f"{type(self).__name__} needs a {self.name}.Config, got {type(cfg).__name__}")
        self.cfg = cfg
        self.spec: AgentEnv = agent_env(
            cfg.env_id if env is None else env, cfg.env_params, cfg.num_envs, cfg.reset_mode,
            continuous=self.continuous_mode, kinds=self.kinds, who=self.name, params=env_params,
        )  # fmt: skip
        self.env, self.env_params, self.venv = self.spec.env, self.spec.env_params, self.spec.venv
        self.obs_dim, self.action_shape = self.spec.obs_dim, self.spec.action_shape
        self.network: Any = None
        self.optimizer: Any = None
        self.build()

    # ------------------------------------------------------------------ hooks
    def build(self) -> None:
        """Set ``self.network`` (a flax module on ``[1, obs_dim]`` inputs) and ``self.optimizer`` (optax)."""
        raise NotImplementedError

    def initial_state(self, **fields: Any) -> Any:
        """The agent's state from the :class:`OnPolicyState` fields (adding its own, e.g. statistics)."""
        raise NotImplementedError

    def prepare(self, key: jax.Array, state: Any) -> tuple[EnvCarry, Transition, Any, dict, dict]:
        """Roll out and build the batch: ``(carry, traj, batch [N, ...], metrics, state updates)``.

        ``metrics`` are extra scalars of this update; ``state updates`` are the agent's own state
        fields after the update (e.g. normalisation statistics).
        """
        raise NotImplementedError

    def loss(self, params: Any, batch: Any, state: Any, progress: jax.Array) -> tuple[jax.Array, dict]:
        """Loss of a minibatch and its metrics (scalars); ``state`` is the update's start state (hparams, ...)."""
        raise NotImplementedError

    def greedy_action(self, state: Any, obs: jax.Array) -> jax.Array:
        """Deterministic env actions ``[B, ...]`` for raw observations ``[B, obs_dim]``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ API
    @property
    def num_updates(self) -> int:
        return self.cfg.num_updates

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Keys of the metrics ``train_chunk`` returns, each ``[n_updates]``."""
        names = ("episode_return", "episode_length", "env_steps", *self.learner_metrics)
        return with_nonfinite((*names, *(("grad_norm",) if self.report_grad_norm else ()), *self.extra_metrics))

    def hparams(self, hparams: Any = None) -> Any:
        """The run's ``HParams`` from the config and ``hparams`` (see :func:`jaxrl.config.resolve_hparams`)."""
        return resolve_hparams(self.cfg, hparams)

    def init(self, key: jax.Array, hparams: Any = None) -> Any:
        """Fresh state: network, optimiser, environments (and the agent's own fields)."""
        hparams = self.hparams(hparams)
        k_net, k_env, k_run = jax.random.split(key, 3)
        params = self.network.init(k_net, jnp.zeros((1, self.obs_dim), jnp.float32))
        obs, env_state = self.venv.reset(k_env, self.env_params)
        return self.initial_state(
            params=params,
            opt_state=self.optimizer.init(ravel_pytree(params)[0]),
            env_state=env_state,
            obs=obs,
            key=k_run,
            update=jnp.int32(0),
            hparams=hparams,
        )

    def train_chunk(self, state: Any, n_updates: int) -> tuple[Any, dict[str, jax.Array]]:
        """Run ``n_updates`` (static) updates; metrics are ``[n_updates]`` arrays.

        Chunks compose exactly: ``train_chunk(train_chunk(s, a)[0], b)`` equals
        ``train_chunk(s, a + b)``; schedules follow ``state.update / num_updates``.
        """
        return scan_updates(self.update_step, state, n_updates)

    def progress(self, update: jax.Array) -> jax.Array:
        """Fraction of the run done before update ``update``: ``update / num_updates``."""
        return update.astype(jnp.float32) / self.num_updates

    def learning_rate(self, hp: Any, update: jax.Array) -> jax.Array:
        """``lr``, or with ``anneal_lr`` ``lr * (1 - update / num_updates)`` (stops at zero)."""
        if not self.cfg.anneal_lr:
            return hp.lr
        return hp.lr * jnp.maximum(1.0 - self.progress(update), 0.0)

    def update_step(self, state: Any) -> tuple[Any, dict[str, jax.Array]]:
        """One update: :meth:`prepare` (rollout and batch), epochs of minibatch SGD, metrics."""
        hp = state.hparams
        k_roll, k_train, k_next = jax.random.split(state.key, 3)
        carry, traj, batch, extra, own = self.prepare(k_roll, state)
        lr = self.learning_rate(hp, state.update)
        params, opt_state, losses = self.sgd(k_train, state, batch, lr, self.progress(state.update))
        info = traj.info
        metrics = {
            "episode_return": episode_mean(info["episode_return"], info["returned_episode"]),
            "episode_length": episode_mean(info["episode_length"].astype(jnp.float32), info["returned_episode"]),
            "env_steps": (state.update + 1) * self.cfg.batch_size,
            **losses,
            **extra,
        }
        new_state = state.replace(
            params=params,
            opt_state=opt_state,
            env_state=carry.state,
            obs=carry.obs,
            key=k_next,
            update=state.update + 1,
            **own,
        )
        return new_state, metrics

    def sgd(self, key: jax.Array, state: Any, batch: Any, lr: jax.Array, progress: jax.Array):
        """``update_epochs`` passes of ``num_minibatches`` clipped Adam steps from ``state.params``.

        Returns ``(params, opt_state, mean loss metrics)``. The optimiser works on the parameters
        raveled into one vector (one fused Adam update instead of one per layer); ``params`` stay
        a pytree outside this function.
        """
        cfg, hp = self.cfg, state.hparams
        flat, unravel = ravel_pytree(state.params)

        def loss_fn(f, mb):
            return self.loss(unravel(f), mb, state, progress)

        def sgd_step(carry, mb):
            f, o = carry
            g, m = jax.grad(loss_fn, has_aux=True)(f, mb)
            f, o, norm = adam_step(self.optimizer, f, g, o, lr, hp.max_grad_norm)
            return (f, o), ({**m, "grad_norm": norm} if self.report_grad_norm else m)

        (flat, opt_state), m = sgd_epochs(key, (flat, state.opt_state), batch, cfg.update_epochs, cfg.num_minibatches,
                                          sgd_step)
        return unravel(flat), opt_state, m

    def evaluate(self, key: jax.Array, state: Any, num_episodes: int, max_steps: int | None = None) -> jax.Array:
        """Returns ``[num_episodes]`` of the deterministic policy, episodes run in parallel without auto-reset.

        An episode still running after ``max_steps`` steps (default: twice the episode limit,
        ``env_params.max_steps_in_episode`` or the registry's) gives NaN, so a missing time limit
        can neither hang nor bias the result silently.
        """
        if max_steps is None:
            max_steps = self.spec.eval_steps()
        act = lambda obs: self.greedy_action(state, obs)  # noqa: E731
        return evaluate_policy(self.env, self.env_params, key, act, num_episodes, max_steps)

    def make_train(self) -> Callable[..., tuple[Any, dict[str, jax.Array]]]:
        """``train(key, hparams=None) -> (state, metrics)`` running all ``num_updates`` updates (a plain function)."""

        def train(key: jax.Array, hparams: Any = None):
            return self.train_chunk(self.init(key, hparams), self.num_updates)

        return train
