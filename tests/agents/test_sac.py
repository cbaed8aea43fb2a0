"""SAC (continuous and discrete): config checks, TD targets and tanh-Gaussian log-probs against
NumPy oracles, the temperature and soft target updates, sweeps under ``vmap`` and learning.

Slow tests (``-m slow``) learn Pendulum-v1, CartPole-v1 (discrete SAC) and PSMReach-v1.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import offpolicy
from jaxrl.agents import sac
from jaxrl.offpolicy import Batch, Stored
from jaxrl.replay import Sample

TINY = dict(hidden=(16, 16), batch_size=8, buffer_size=1_000, learning_starts=100, total_timesteps=300)


def _np(tree):
    return jax.tree.map(np.asarray, tree)


def _leaves_close(a, b) -> bool:
    return all(np.allclose(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


# --------------------------------------------------------------------------- fixtures (one compile per shape)
@pytest.fixture(scope="module")
def cont():
    """A tiny continuous SAC on Pendulum-v1 with its jitted ``learn`` and ``target``."""
    return _jitted(sac.SAC(sac.Config(env_id="Pendulum-v1", **TINY)))


@pytest.fixture(scope="module")
def disc():
    """A tiny discrete SAC on CartPole-v1."""
    return _jitted(sac.SAC(sac.Config(env_id="CartPole-v1", **TINY)))


def _jitted(agent):
    agent.init_learner = jax.jit(agent.init_learner)  # eager flax init is slow; compile it once per agent
    return agent, jax.jit(agent.learn), jax.jit(agent.target)


def _random_batch(agent, key, s=8, obs_scale=1.0) -> Batch:
    k = jax.random.split(key, 5)
    obs_dim = agent.spec.obs_dim
    if agent.discrete:
        action = jax.random.randint(k[1], (s,), 0, agent.action_dim, jnp.int32)
    else:
        action = jax.random.uniform(k[1], (s,) + agent.spec.action_shape, minval=-1.0, maxval=1.0)
    return Batch(
        obs=obs_scale * jax.random.normal(k[0], (s, obs_dim)),
        action=action,
        reward=jax.random.normal(k[2], (s,)),
        discount=jnp.where(jax.random.uniform(k[3], (s,)) < 0.3, 0.0, 0.99),
        next_obs=obs_scale * jax.random.normal(k[4], (s, obs_dim)),
        weight=jnp.ones((s,)),
    )


def _perturbed(tree, key, scale=0.1):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    )


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tau=0.0), "tau must be in"),
        (dict(tau=1.5), "tau must be in"),
        (dict(init_alpha=-0.1), "init_alpha must be > 0"),
        (dict(alpha_lr=0.0), "alpha_lr must be > 0"),
        (dict(target_entropy_ratio=1.5), "target_entropy_ratio"),
        (dict(target_entropy_scale=float("nan")), "target_entropy_scale"),
        (dict(lr=float("nan")), "lr must be"),
        (dict(gamma=1.1), "gamma must be in"),
        (dict(log_std_min=2.0, log_std_max=-5.0), "log_std_min < log_std_max"),
        (dict(hidden=()), "hidden must be a non-empty tuple of positive layer sizes"),
        (dict(hidden=(32, 0)), "non-empty tuple of positive layer sizes"),
        (dict(autotune="yes"), "autotune must be a bool"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(learning_starts=-1), "learning_starts must be a non-negative integer"),
        (dict(env_id="Pendulum-v2"), "unknown environment id"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sac.Config(**kwargs)


def test_hparams_defaults_and_checks(cont):
    agent = cont[0]
    hp = agent.hparams()
    assert float(hp.tau) == pytest.approx(agent.cfg.tau) and hp.tau.dtype == jnp.float32
    assert float(agent.target_entropy(hp)) == pytest.approx(-1.0)  # -action_dim on Pendulum
    with pytest.raises(ValueError, match="unknown sac hyperparameter"):
        agent.hparams({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="init_alpha must be > 0"):
        agent.hparams({"init_alpha": 0.0})
    with pytest.raises(TypeError, match="needs a sac.Config"):
        sac.SAC(object())


def test_kinds_and_action_shapes(cont, disc, key):
    agent, _, _ = cont
    assert (
        agent.spec.kind == "gaussian" and not agent.discrete and np.all(np.asarray(agent.spec.action_space.high) == 1)
    )
    learner = agent.init_learner(key, agent.hparams())
    obs = jax.random.normal(key, (5, agent.spec.obs_dim))
    a = agent.explore(learner.actor, key, obs, agent.hparams(), jnp.float32(0.0))
    assert a.shape == (5, 1) and a.dtype == jnp.float32 and bool(jnp.all(jnp.abs(a) < 1.0))
    assert agent.greedy(learner.actor, obs).shape == (5, 1)
    d = disc[0]
    assert d.discrete and d.action_dim == 2
    dl = d.init_learner(key, d.hparams())
    a = d.explore(dl.actor, key, jnp.ones((5, 4)), d.hparams(), jnp.float32(0.0))
    assert a.shape == (5,) and a.dtype == jnp.int32
    assert float(d.target_entropy(d.hparams())) == pytest.approx(0.7 * math.log(2.0))


# --------------------------------------------------------------------------- tanh-Gaussian
def test_tanh_gaussian_log_prob_matches_oracle(key):
    k1, k2, k3 = jax.random.split(key, 3)
    mean = jax.random.normal(k1, (6, 3))
    log_std = jax.random.uniform(k2, (6, 3), minval=-1.5, maxval=0.5)
    dist = sac.TanhGaussian(mean, log_std)
    action, logp = dist.sample_and_log_prob(k3)
    # oracle: change of variables a = tanh(u), log N(u) - log(1 - a^2)
    a, m, s = np.asarray(action, np.float64), np.asarray(mean, np.float64), np.exp(np.asarray(log_std, np.float64))
    u = np.arctanh(a)
    oracle = np.sum(-0.5 * ((u - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi) - np.log1p(-(a**2)), axis=-1)
    np.testing.assert_allclose(np.asarray(logp), oracle, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(np.asarray(dist.log_prob(action)), oracle, rtol=1e-4, atol=1e-3)
    assert bool(jnp.all(jnp.abs(action) < 1.0))
    np.testing.assert_allclose(np.asarray(dist.mode()), np.tanh(m), rtol=1e-6)


def test_tanh_gaussian_density_integrates_to_one():
    a = np.linspace(-1 + 1e-7, 1 - 1e-7, 400_001)
    for mean, log_std in ((0.3, np.log(0.5)), (-1.0, np.log(0.8)), (0.0, 0.0)):
        dist = sac.TanhGaussian(jnp.full((a.size, 1), mean), jnp.full((a.size, 1), log_std))
        density = np.exp(np.asarray(dist.log_prob(jnp.asarray(a[:, None], jnp.float32)), np.float64))
        assert np.trapezoid(density, a) == pytest.approx(1.0, abs=2e-3)


def test_tanh_log_det_is_stable():
    u = jnp.array([-30.0, -5.0, -0.5, 0.0, 0.7, 4.0, 30.0])
    got = np.asarray(sac.tanh_log_det(u))
    moderate = np.abs(np.asarray(u)) <= 5
    np.testing.assert_allclose(got[moderate], np.log1p(-(np.tanh(np.asarray(u, np.float64)[moderate]) ** 2)), rtol=1e-5)
    # for large |u|: log(1 - tanh^2 u) -> 2 log 2 - 2|u|, finite where the naive formula gives -inf
    np.testing.assert_allclose(got[~moderate], 2 * np.log(2) - 2 * np.abs(np.asarray(u)[~moderate]), rtol=1e-6)


# --------------------------------------------------------------------------- targets
def test_soft_target_formula_by_hand():
    batch = Batch(
        obs=jnp.zeros((3, 1)),
        action=jnp.zeros((3, 1)),
        reward=jnp.array([1.0, -2.0, 0.5]),
        discount=jnp.array([0.99, 0.0, 0.9801]),  # continue, terminated, 2-step
        next_obs=jnp.zeros((3, 1)),
        weight=jnp.ones(3),
    )
    next_q = jnp.array([[3.0, 5.0, -1.0], [2.0, 7.0, -4.0]])  # [K=2, S=3]
    next_log_pi = jnp.array([-0.5, 1.0, 0.25])
    y = sac.soft_target(batch, next_q, next_log_pi, jnp.float32(0.2))
    expect = [1.0 + 0.99 * (2.0 + 0.1), -2.0, 0.5 + 0.9801 * (-4.0 - 0.05)]
    np.testing.assert_allclose(np.asarray(y), expect, rtol=1e-6)


def test_discrete_soft_value_is_exact_expectation(key):
    k1, k2 = jax.random.split(key)
    q = jax.random.normal(k1, (2, 4, 3))
    logits = 2.0 * jax.random.normal(k2, (4, 3))
    alpha = 0.3
    qn, ln = np.asarray(q, np.float64), np.asarray(logits, np.float64)
    p = np.exp(ln - ln.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    oracle = np.sum(p * (np.minimum(qn[0], qn[1]) - alpha * np.log(p)), axis=-1)
    np.testing.assert_allclose(np.asarray(sac.discrete_soft_value(q, logits, alpha)), oracle, rtol=1e-5, atol=1e-6)
    batch = Batch(
        jnp.zeros((4, 1)),
        jnp.zeros(4, jnp.int32),
        jnp.ones(4),
        jnp.array([0.99, 0.0, 0.5, 0.99]),
        jnp.zeros((4, 1)),
        jnp.ones(4),
    )
    y = sac.discrete_soft_target(batch, q, logits, alpha)
    np.testing.assert_allclose(np.asarray(y), 1.0 + np.array([0.99, 0.0, 0.5, 0.99]) * oracle, rtol=1e-5)


def _stored_sample(agent, key, terminated, truncated) -> Sample:
    """Four transitions ``[S=4]`` as the replay buffer returns them."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    n, d = 4, agent.spec.obs_dim
    if agent.discrete:
        action = jax.random.randint(k2, (n,), 0, agent.action_dim, jnp.int32)
    else:
        action = jax.random.uniform(k2, (n, 1), minval=-1.0, maxval=1.0)
    data = Stored(
        obs=jax.random.normal(k1, (n, d)),
        action=action,
        reward=jax.random.normal(k3, (n,)),
        terminated=jnp.asarray(terminated),
        truncated=jnp.asarray(truncated),
        next_obs=jax.random.normal(k4, (n, d)),  # the true successor (terminal obs where an episode ended)
    )
    return Sample(data=data, row=jnp.arange(n), env=jnp.zeros(n, jnp.int32), weight=jnp.ones(n))


@pytest.mark.parametrize("which", ["cont", "disc"])
def test_target_terminated_and_truncated_against_oracle(which, request, key):
    agent, _, target = request.getfixturevalue(which)
    gamma = 0.9
    learner = agent.init_learner(key, agent.hparams({"init_alpha": 0.5}))
    learner = learner.replace(critic_target=_perturbed(learner.critic, jax.random.key(7)))  # targets != online
    terminated = [False, True, False, True]
    truncated = [False, False, True, True]  # row 2: time limit; row 3: both (termination wins)
    sample = _stored_sample(agent, jax.random.key(3), terminated, truncated)
    batch = offpolicy.to_batch(sample, jnp.float32(gamma), n_step=1)
    k = jax.random.key(11)
    y = np.asarray(target(learner, k, batch))

    # oracle, from the networks and NumPy
    d, nxt = _np(sample.data), sample.data.next_obs
    if agent.discrete:
        q = np.asarray(agent.q_values(learner.critic_target, nxt), np.float64)  # [K, S, A]
        logits = np.asarray(agent.policy(learner.actor, nxt).logits, np.float64)
        logp = logits - np.log(np.sum(np.exp(logits), -1, keepdims=True))
        v = np.sum(np.exp(logp) * (q.min(0) - 0.5 * logp), axis=-1)
    else:
        a_next, logp_next = agent.policy(learner.actor, nxt).sample_and_log_prob(k)
        q = np.asarray(agent.q_values(learner.critic_target, nxt, a_next), np.float64)  # [K, S]
        v = q.min(0) - 0.5 * np.asarray(logp_next, np.float64)
    oracle = d.reward + gamma * (1.0 - d.terminated) * v
    np.testing.assert_allclose(y, oracle, rtol=1e-5, atol=1e-5)
    assert y[1] == pytest.approx(d.reward[1]) and y[3] == pytest.approx(d.reward[3])  # no bootstrap
    assert abs(y[2] - d.reward[2]) > 1e-3  # truncated: bootstraps from the final observation
    # the bootstrap really reads next_obs (the final observation), not obs
    moved = batch._replace(next_obs=batch.next_obs.at[2].add(1.0))
    y2 = np.asarray(target(learner, k, moved))
    assert abs(y2[2] - y[2]) > 1e-4 and np.allclose(np.delete(y2, 2), np.delete(y, 2), atol=1e-6)


def test_target_with_nstep_batch(cont, key):
    """n-step: a time limit inside the window stops the sum and bootstraps there with gamma^k."""
    agent, _, target = cont
    learner = agent.init_learner(key, agent.hparams())
    gamma, s, n, d = 0.9, 2, 3, agent.spec.obs_dim
    ks = jax.random.split(jax.random.key(5), 3)
    data = Stored(
        obs=jax.random.normal(ks[0], (s, n, d)),
        action=jnp.zeros((s, n, 1)),
        reward=jnp.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]]),
        terminated=jnp.array([[False, False, False], [False, False, False]]),
        truncated=jnp.array([[False, True, False], [False, False, False]]),
        next_obs=jax.random.normal(ks[1], (s, n, d)),
    )
    batch = offpolicy.to_batch(
        Sample(data, jnp.zeros(s, jnp.int32), jnp.zeros(s, jnp.int32), jnp.ones(s)), jnp.float32(gamma), n
    )
    np.testing.assert_allclose(np.asarray(batch.reward), [1 + 0.9 * 2, 1 + 0.9 * 2 + 0.81 * 4], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batch.discount), [0.81, 0.729], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batch.next_obs), np.asarray(data.next_obs[jnp.arange(2), jnp.array([1, 2])]))
    y = target(learner, ks[2], batch)
    a_next, logp = agent.policy(learner.actor, batch.next_obs).sample_and_log_prob(ks[2])
    v = jnp.min(agent.q_values(learner.critic_target, batch.next_obs, a_next), 0) - jnp.exp(learner.log_alpha) * logp
    np.testing.assert_allclose(np.asarray(y), np.asarray(batch.reward + batch.discount * v), rtol=1e-5)


# --------------------------------------------------------------------------- updates
@pytest.mark.parametrize("which", ["cont", "disc"])
def test_temperature_moves_towards_target_entropy(which, request, key):
    agent, learn, _ = request.getfixturevalue(which)
    batch = _random_batch(agent, jax.random.key(1), obs_scale=5.0)
    # continuous: entropy of a tanh-Gaussian in (-1, 1) is <= log 2 < 5 and > -5 here;
    # discrete: 0 < H < log(A) for a non-uniform policy
    if agent.discrete:
        low, high = {"target_entropy_ratio": 1.0}, {"target_entropy_ratio": 0.05}
    else:
        low, high = {"target_entropy_scale": -5.0}, {"target_entropy_scale": 5.0}
    for change, direction in ((low, +1), (high, -1)):  # entropy below target: alpha up; above: down
        hp = agent.hparams({"init_alpha": 0.5, **change})
        learner = agent.init_learner(key, hp)
        new, metrics, prio = learn(learner, jax.random.key(2), batch, hp, jnp.int32(1))
        entropy, target = float(metrics["entropy"]), float(agent.target_entropy(hp))
        assert (entropy < target) == (direction > 0)
        alpha = float(metrics["alpha"])
        assert alpha == pytest.approx(float(jnp.exp(new.log_alpha)))
        # one Adam step moves log_alpha by ~alpha_lr, with the sign of (target - entropy)
        assert direction * (math.log(alpha) - math.log(0.5)) == pytest.approx(float(hp.alpha_lr), rel=1e-2)
        assert set(metrics) == set(agent.learner_metrics) and all(jnp.shape(v) == () for v in metrics.values())
        assert prio.shape == (8,) and bool(jnp.all(prio > 0))


def test_temperature_loss_gradient():
    log_pi = jnp.array([-1.0, 0.5, -2.0])  # entropy estimate 0.8333
    g = jax.grad(sac.temperature_loss)(jnp.float32(0.3), log_pi, jnp.float32(-1.0))
    assert float(g) == pytest.approx(-np.mean(np.asarray(log_pi)) - (-1.0))  # entropy - target


@pytest.mark.parametrize("which", ["cont", "disc"])
def test_soft_target_update_moves_by_tau(which, request, key):
    agent, learn, _ = request.getfixturevalue(which)
    tau = 0.25
    hp = agent.hparams({"tau": tau})
    learner = agent.init_learner(key, hp)
    learner = learner.replace(critic_target=_perturbed(learner.critic, jax.random.key(9), 0.5))
    new, _, _ = learn(learner, jax.random.key(2), _random_batch(agent, jax.random.key(4)), hp, jnp.int32(1))
    assert not _leaves_close(new.critic, learner.critic)  # the critics moved
    for old_t, new_c, new_t in zip(
        *(jax.tree.leaves(t) for t in (learner.critic_target, new.critic, new.critic_target)), strict=True
    ):
        np.testing.assert_allclose(
            np.asarray(new_t), (1 - tau) * np.asarray(old_t) + tau * np.asarray(new_c), rtol=1e-5, atol=1e-6
        )
    assert not _leaves_close(new.actor, learner.actor)


# --------------------------------------------------------------------------- whole runs
def test_vmap_over_seeds_and_learning_rates_and_quick_learning():
    """One program, three runs ``(seed, lr)``: (0, 1e-3), (0, 1e-5), (1, 1e-3), 5k Pendulum steps each.

    With lr 1e-3 both seeds go from the random-action phase (about -1200) to a clearly better
    greedy policy; the same seed with lr 1e-5 does not.
    """
    cfg = sac.Config(
        env_id="Pendulum-v1",
        total_timesteps=5_000,
        learning_starts=500,
        hidden=(32, 32),
        batch_size=128,
        buffer_size=5_000,
    )
    agent = sac.SAC(cfg)
    train_fn = agent.make_train()
    k0, k1 = jax.random.split(jax.random.key(0))
    state, metrics = jax.jit(jax.vmap(train_fn))(jnp.stack([k0, k0, k1]), {"lr": jnp.array([1e-3, 1e-5, 1e-3])})
    n = cfg.num_updates
    assert metrics["critic_loss"].shape == (3, n) and metrics["episode_return"].shape == (3, n)
    assert sorted(metrics) == sorted(agent.metric_names)
    assert {"episode_return", "episode_length", "env_steps", *sac.SAC.learner_metrics} <= set(metrics)
    learning = np.asarray(metrics["env_steps"][0]) >= cfg.learning_starts
    for name in sac.SAC.learner_metrics:  # NaN before learning starts, finite after
        m = np.asarray(metrics[name])
        assert np.all(np.isnan(m[:, ~learning])) and np.all(np.isfinite(m[:, learning])), name
    np.testing.assert_allclose(np.asarray(state.hparams.lr), [1e-3, 1e-5, 1e-3])
    assert np.all(np.asarray(state.grad_steps) == n - cfg.learning_starts + 1)
    actor = [jax.tree.map(lambda x, i=i: x[i], state.learner.actor) for i in range(3)]
    assert not _leaves_close(actor[0], actor[1])  # same seed, different lr
    assert not _leaves_close(actor[0], actor[2])  # same lr, different seed
    obs = np.asarray(state.buffer.data.obs)  # [3, C, 1, 3]: same seed, same random-action phase
    np.testing.assert_array_equal(obs[0, : cfg.learning_starts], obs[1, : cfg.learning_starts])
    assert not np.array_equal(obs[0, : cfg.learning_starts], obs[2, : cfg.learning_starts])

    evaluate = jax.jit(jax.vmap(lambda s: agent.evaluate(jax.random.key(1), s, 8)))
    evaluated = np.asarray(evaluate(state)).mean(axis=1)  # [3]
    ret = np.asarray(metrics["episode_return"])
    first = np.array([r[~np.isnan(r)][:2].mean() for r in ret])  # random actions
    assert np.all(first < -900), first
    for i in (0, 2):
        assert evaluated[i] > -700 and evaluated[i] > first[i] + 400, (i, first, evaluated)
    assert evaluated[0] > evaluated[1] + 300, evaluated


def test_discrete_run():
    cfg = sac.Config(env_id="CartPole-v1", **TINY)
    state, metrics = jax.jit(sac.make_train(cfg))(jax.random.key(0))
    learning = np.asarray(metrics["env_steps"]) >= cfg.learning_starts
    for name in sac.SAC.learner_metrics:
        assert np.all(np.isfinite(np.asarray(metrics[name])[learning])), name
    entropy = np.asarray(metrics["entropy"])[learning]  # exact entropies of a 2-action policy
    assert np.all((entropy > 0) & (entropy <= math.log(2) + 1e-6))
    assert state.buffer.data.action.dtype == jnp.int32 and int(state.grad_steps) == cfg.num_updates - 99


# --------------------------------------------------------------------------- slow: learning to thresholds
@pytest.mark.slow
def test_sac_learns_pendulum():
    agent = sac.SAC(sac.Config())  # defaults: Pendulum-v1, 30k env steps
    state, metrics = jax.jit(offpolicy.make_train(agent))(jax.random.key(0))
    ret = np.asarray(metrics["episode_return"])
    last = ret[~np.isnan(ret)][-10:].mean()
    evaluated = float(jnp.mean(agent.evaluate(jax.random.key(1), state, 20)))
    print(f"evaluation {evaluated:.1f}, last 10 training episodes {last:.1f}")
    assert evaluated >= -250 and last >= -250, (evaluated, last)


@pytest.mark.slow
def test_discrete_sac_learns_cartpole():
    agent = sac.SAC(sac.Config(env_id="CartPole-v1", total_timesteps=30_000))
    state, _ = jax.jit(offpolicy.make_train(agent))(jax.random.key(0))
    evaluated = float(jnp.mean(agent.evaluate(jax.random.key(1), state, 10)))
    print(f"evaluation {evaluated:.1f}")
    assert evaluated >= 400


@pytest.mark.slow
def test_sac_learns_psm_reach():
    """PSMReach-v1 (9 joint targets, 399-step episodes): the greedy policy brings the tool tip much closer to
    the goal and beats holding still (zero actions) and the random-action phase clearly.

    60k env steps, 4 envs, 2 learner updates per iteration, 3-step returns (about 3-4 min on 2 CPU cores).
    """
    cfg = sac.Config(
        env_id="PSMReach-v1", total_timesteps=60_000, num_envs=4, gradient_steps=2, n_step=3, hidden=(128, 128)
    )
    agent = sac.SAC(cfg)
    state, metrics = jax.jit(offpolicy.make_train(agent))(jax.random.key(0))
    env, params, n = agent.env, agent.env_params, 16

    @jax.jit
    def play(actor, key):
        """Greedy (or zero-action, ``actor=None``) episodes without auto-reset: returns, first/last distance."""
        obs, s = jax.vmap(env.reset_env, in_axes=(0, None))(jax.random.split(key, n), params)

        def body(c, k):
            obs, s = c
            a = jnp.zeros((n, agent.action_dim)) if actor is None else agent.greedy(actor, obs)
            out = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(jax.random.split(k, n), s, a, params)
            return (out.obs, out.state), (out.reward, out.info["distance"], out.info["success"])

        _, (rew, dist, success) = jax.lax.scan(body, (obs, s), jax.random.split(key, 400))
        return rew.sum(0), dist[0], dist[-1], success[-1]

    ret, d0, d1, success = (np.asarray(x) for x in play(state.learner.actor, jax.random.key(1)))
    zero_ret = float(np.asarray(play(None, jax.random.key(1))[0]).mean())
    r = np.asarray(metrics["episode_return"])
    first = r[~np.isnan(r)][:2].mean()  # random actions
    print(
        f"greedy return {ret.mean():.1f} (zero actions {zero_ret:.1f}, first training episodes {first:.1f}); "
        f"distance {d0.mean():.3f} -> {d1.mean():.3f} m; final success rate {success.mean():.2f}"
    )
    assert ret.mean() > zero_ret + 15 and ret.mean() > first + 10
    assert d1.mean() < 0.5 * d0.mean()
