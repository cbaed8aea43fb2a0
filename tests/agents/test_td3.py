"""TD3: config checks, target-policy smoothing and TD targets against NumPy oracles, delayed
actor/target updates, sweeps under ``vmap`` and learning.

Slow tests (``-m slow``) learn Pendulum-v1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import offpolicy
from jaxrl.agents import td3
from jaxrl.offpolicy import Batch, Stored
from jaxrl.replay import Sample

TINY = dict(hidden=(16, 16), batch_size=8, buffer_size=1_000, learning_starts=100, total_timesteps=300)


def _leaves_close(a, b) -> bool:
    return all(np.allclose(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _perturbed(tree, key, scale=0.1):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [x + scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    )


@pytest.fixture(scope="module")
def agent3():
    """A tiny TD3 on Pendulum-v1 with ``policy_delay=3``; jitted ``init_learner``, ``learn`` and ``target``."""
    agent = td3.TD3(td3.Config(env_id="Pendulum-v1", policy_delay=3, **TINY))
    return agent, jax.jit(agent.init_learner), jax.jit(agent.learn), jax.jit(agent.target)


def _random_batch(agent, key, s=8) -> Batch:
    k = jax.random.split(key, 5)
    d = agent.spec.obs_dim
    return Batch(
        obs=jax.random.normal(k[0], (s, d)),
        action=jax.random.uniform(k[1], (s, 1), minval=-1.0, maxval=1.0),
        reward=jax.random.normal(k[2], (s,)),
        discount=jnp.where(jax.random.uniform(k[3], (s,)) < 0.3, 0.0, 0.99),
        next_obs=jax.random.normal(k[4], (s, d)),
        weight=jnp.ones((s,)),
    )


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(policy_delay=0), "policy_delay must be a positive integer"),
        (dict(policy_delay=2.0), "policy_delay must be an integer"),
        (dict(policy_noise=-0.1), "policy_noise must be >= 0"),
        (dict(noise_clip=float("nan")), "noise_clip"),
        (dict(exploration_noise=-1.0), "exploration_noise must be >= 0"),
        (dict(tau=0.0), "tau must be in"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(hidden=()), "hidden must be a non-empty tuple of positive layer sizes"),
        (dict(num_envs=0), "num_envs must be a positive integer"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        td3.Config(**kwargs)


def test_rejects_discrete_action_spaces():
    with pytest.raises(TypeError, match="td3 does not support CartPole-v1"):
        td3.TD3(td3.Config(env_id="CartPole-v1"))


def test_hparams_checks(agent3):
    agent = agent3[0]
    with pytest.raises(ValueError, match="policy_noise must be >= 0"):
        agent.hparams({"policy_noise": -1.0})
    with pytest.raises(ValueError, match="unknown td3 hyperparameter"):
        agent.hparams({"delay": 2})


# --------------------------------------------------------------------------- targets
def test_smoothed_action_clips_noise_and_action():
    action = jnp.array([[0.0, 0.9], [-0.95, 0.2]])
    noise = jnp.array([[3.0, 1.0], [-0.5, -10.0]])
    got = np.asarray(td3.smoothed_action(action, noise, jnp.float32(0.2), jnp.float32(0.5)))
    eps = np.clip(0.2 * np.asarray(noise), -0.5, 0.5)  # [[0.5, 0.2], [-0.1, -0.5]]
    np.testing.assert_allclose(got, np.clip(np.asarray(action) + eps, -1, 1), rtol=1e-6)
    np.testing.assert_allclose(got, [[0.5, 1.0], [-1.0, -0.3]], rtol=1e-6)


def test_td3_target_formula_by_hand():
    batch = Batch(
        jnp.zeros((3, 1)),
        jnp.zeros((3, 1)),
        jnp.array([1.0, -2.0, 0.5]),
        jnp.array([0.99, 0.0, 0.5]),
        jnp.zeros((3, 1)),
        jnp.ones(3),
    )
    next_q = jnp.array([[3.0, 5.0, -1.0], [2.0, 7.0, -4.0]])
    np.testing.assert_allclose(np.asarray(td3.td3_target(batch, next_q)), [1 + 0.99 * 2, -2.0, 0.5 - 2.0], rtol=1e-6)


def test_target_terminated_truncated_and_smoothing_against_oracle(agent3, key):
    agent, init, _, target = agent3
    learner = init(key, agent.hparams())
    learner = learner.replace(
        actor_target=_perturbed(learner.actor, jax.random.key(1), 0.3),
        critic_target=_perturbed(learner.critic, jax.random.key(2), 0.3),
    )
    gamma, n, d = 0.9, 4, agent.spec.obs_dim
    ks = jax.random.split(jax.random.key(3), 4)
    data = Stored(
        obs=jax.random.normal(ks[0], (n, d)),
        action=jax.random.uniform(ks[1], (n, 1), minval=-1.0, maxval=1.0),
        reward=jax.random.normal(ks[2], (n,)),
        terminated=jnp.array([False, True, False, True]),
        truncated=jnp.array([False, False, True, True]),
        next_obs=jax.random.normal(ks[3], (n, d)),
    )
    batch = offpolicy.to_batch(Sample(data, jnp.arange(n), jnp.zeros(n, jnp.int32), jnp.ones(n)), jnp.float32(gamma), 1)
    # without smoothing noise: y = r + gamma (1 - terminated) min_k Q'_k(s', mu'(s'))
    quiet = agent.hparams({"policy_noise": 0.0})
    y = np.asarray(target(learner, jax.random.key(4), batch, quiet))
    a_next = agent.mu(learner.actor_target, data.next_obs)
    q = np.asarray(agent.q_values(learner.critic_target, data.next_obs, a_next), np.float64)
    oracle = np.asarray(data.reward) + gamma * (1.0 - np.asarray(data.terminated)) * q.min(0)
    np.testing.assert_allclose(y, oracle, rtol=1e-5, atol=1e-6)
    assert abs(y[2] - float(data.reward[2])) > 1e-4 and y[3] == pytest.approx(float(data.reward[3]))
    # noise_clip = 0 removes any noise; with noise the target moves (and stays equal where terminated)
    clipped = np.asarray(
        target(learner, jax.random.key(4), batch, agent.hparams({"policy_noise": 1.0, "noise_clip": 0.0}))
    )
    np.testing.assert_allclose(clipped, y, rtol=1e-6)
    noisy = np.asarray(target(learner, jax.random.key(4), batch, agent.hparams({"policy_noise": 0.5})))
    assert not np.allclose(noisy[[0, 2]], y[[0, 2]]) and np.allclose(noisy[[1, 3]], y[[1, 3]])


# --------------------------------------------------------------------------- delayed updates
def test_actor_and_targets_move_only_every_policy_delay_steps(agent3, key):
    agent, init, learn, _ = agent3
    tau = 0.3
    hp = agent.hparams({"tau": tau})
    learner = init(key, hp)
    learner = learner.replace(
        actor_target=_perturbed(learner.actor, jax.random.key(1)),
        critic_target=_perturbed(learner.critic, jax.random.key(2)),
    )
    for step in range(1, 7):
        batch = _random_batch(agent, jax.random.key(100 + step))
        new, metrics, prio = learn(learner, jax.random.key(step), batch, hp, jnp.int32(step))
        assert set(metrics) == set(agent.learner_metrics) and all(jnp.shape(v) == () for v in metrics.values())
        assert prio.shape == (8,) and bool(jnp.all(prio > 0))
        assert not _leaves_close(new.critic, learner.critic), step  # the critics learn on every step
        if step % 3:
            for name in ("actor", "actor_target", "critic_target", "actor_opt"):
                same = jax.tree.map(
                    lambda a, b: bool(jnp.array_equal(a, b)), getattr(new, name), getattr(learner, name)
                )
                assert all(jax.tree.leaves(same)), (step, name)
        else:
            assert not _leaves_close(new.actor, learner.actor), step
            for tgt, online in (("actor_target", "actor"), ("critic_target", "critic")):
                for old_t, new_o, new_t in zip(
                    *(jax.tree.leaves(t) for t in (getattr(learner, tgt), getattr(new, online), getattr(new, tgt))),
                    strict=True,
                ):
                    np.testing.assert_allclose(
                        np.asarray(new_t), (1 - tau) * np.asarray(old_t) + tau * np.asarray(new_o), rtol=1e-5, atol=1e-6
                    )
        learner = new


def test_exploration_noise_and_greedy(agent3, key):
    agent, init, _, _ = agent3
    learner = init(key, agent.hparams())
    obs = jax.random.normal(key, (256, agent.spec.obs_dim))
    explore = jax.jit(agent.explore)
    greedy = agent.greedy(learner.actor, obs)
    a0 = explore(learner.actor, key, obs, agent.hparams({"exploration_noise": 0.0}), jnp.float32(0.0))
    np.testing.assert_allclose(np.asarray(a0), np.asarray(greedy), rtol=1e-6)
    a = explore(learner.actor, key, obs, agent.hparams({"exploration_noise": 0.1}), jnp.float32(0.0))
    assert a.shape == (256, 1) and float(jnp.max(jnp.abs(a))) <= 1.0
    assert float(jnp.std(a - greedy)) == pytest.approx(0.1, rel=0.2)


# --------------------------------------------------------------------------- whole runs
def test_vmap_over_seeds_and_learning_rates():
    cfg = td3.Config(env_id="Pendulum-v1", **TINY)
    train_fn = td3.make_train(cfg)
    train = jax.jit(jax.vmap(train_fn))
    k0, k1 = jax.random.split(jax.random.key(0))
    state, metrics = train(jnp.stack([k0, k0, k1]), {"lr": jnp.array([1e-4, 1e-2, 1e-4])})
    n = cfg.num_updates
    assert metrics["actor_loss"].shape == (3, n)
    assert sorted(metrics) == sorted(td3.TD3(cfg).metric_names)
    assert {"episode_return", "episode_length", "env_steps", *td3.TD3.learner_metrics} <= set(metrics)
    learning = np.asarray(metrics["env_steps"][0]) >= cfg.learning_starts
    assert np.all(np.isnan(np.asarray(metrics["critic_loss"])[:, ~learning]))
    assert np.all(np.isfinite(np.asarray(metrics["critic_loss"])[:, learning]))
    actor = [jax.tree.map(lambda x, i=i: x[i], state.learner.actor) for i in range(3)]
    assert not _leaves_close(actor[0], actor[1]) and not _leaves_close(actor[0], actor[2])
    assert np.all(np.asarray(state.grad_steps) == n - cfg.learning_starts + 1)


# --------------------------------------------------------------------------- slow: learning to thresholds
@pytest.mark.slow
def test_td3_learns_pendulum():
    agent = td3.TD3(td3.Config())  # defaults: Pendulum-v1, 30k env steps
    state, metrics = jax.jit(offpolicy.make_train(agent))(jax.random.key(0))
    ret = np.asarray(metrics["episode_return"])
    last = ret[~np.isnan(ret)][-10:].mean()
    evaluated = float(jnp.mean(agent.evaluate(jax.random.key(1), state, 20)))
    print(f"evaluation {evaluated:.1f}, last 10 training episodes {last:.1f}")
    assert evaluated >= -250 and last >= -250, (evaluated, last)
