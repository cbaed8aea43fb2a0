"""DQN family on the shared replay loop: targets by hand, exploration schedule, chunked training with
checkpoints (replay buffer included), actor lag, sweeps, and learning checks.

Slow tests (``-m slow``) solve CartPole-v1.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import checkpoint, offpolicy
from jaxrl.agents import dqn
from jaxrl.testing import assert_trees_equal


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_envs=0), "num_envs must be a positive integer"),
        (dict(batch_size=-4), "batch_size"),
        (dict(learning_starts=-1), "learning_starts must be a non-negative"),
        (dict(n_step=0), "n_step"),
        (dict(total_timesteps=5), "less than one iteration"),
        (dict(env_id="CartPol-v1"), "unknown environment id.*CartPole-v1"),
        (dict(buffer_size=4), "buffer_size"),
        (dict(tau=0.0), "tau must be in"),
        (dict(eps_end=1.5), "eps_end"),
        (dict(target_period=-2), "target_period"),
        (dict(activation="nope"), "activation"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dqn.Config(**kwargs)


def test_continuous_env_rejected_and_hparams_checked():
    with pytest.raises(TypeError, match="dqn does not support Pendulum-v1"):
        dqn.DQN(dqn.Config(env_id="Pendulum-v1"))
    agent = dqn.DQN(dqn.Config(total_timesteps=1000))
    with pytest.raises(ValueError, match="unknown dqn hyperparameter"):
        agent.init(jax.random.key(0), {"learning_rate": 1.0})
    with pytest.raises(ValueError, match="gamma must be in"):
        agent.init(jax.random.key(0), {"gamma": 2.0})


# --------------------------------------------------------------------------- pieces by hand
def _batch(reward, discount):
    s = len(reward)
    return offpolicy.Batch(
        obs=jnp.zeros((s, 4)), action=jnp.zeros(s, jnp.int32), reward=jnp.asarray(reward, jnp.float32),
        discount=jnp.asarray(discount, jnp.float32), next_obs=jnp.zeros((s, 4)), weight=jnp.ones(s),
    )


def test_td_targets_double_and_plain():
    q_online = jnp.array([[1.0, 5.0], [3.0, 2.0]])  # online argmax: 1, 0
    q_target = jnp.array([[10.0, 7.0], [4.0, 9.0]])
    b = _batch([1.0, 2.0], [0.9, 0.0])  # second item terminated: no bootstrap
    np.testing.assert_allclose(np.asarray(dqn.td_targets(q_online, q_target, b, double=True)), [1 + 0.9 * 7, 2.0])
    np.testing.assert_allclose(np.asarray(dqn.td_targets(None, q_target, b, double=False)), [1 + 0.9 * 10, 2.0])


def test_epsilon_schedule():
    cfg = dqn.Config(total_timesteps=1000, eps_start=1.0, eps_end=0.1, exploration_fraction=0.5)
    hp = dqn.DQN(cfg).hparams()
    got = [float(dqn.epsilon(hp, jnp.float32(p))) for p in (0.0, 0.25, 0.5, 0.9)]
    np.testing.assert_allclose(got, [1.0, 0.55, 0.1, 0.1], rtol=1e-6)


def test_dueling_head_mean_advantage_is_zero():
    net = dqn.QNetwork((16, 16), 3, "relu", dueling=True)
    params = net.init(jax.random.key(0), jnp.zeros((1, 4)))
    q = net.apply(params, jax.random.normal(jax.random.key(1), (5, 4)))
    v = net.apply(params, jax.random.normal(jax.random.key(1), (5, 4)), method=None)
    assert q.shape == (5, 3)
    np.testing.assert_allclose(np.asarray(q), np.asarray(v))
    assert "advantage" in params["params"] and "value" in params["params"]


@pytest.mark.parametrize("act", ["relu", "tanh", "elu", "gelu", "silu"])
def test_dueling_trunk_applies_the_configured_activation(act):
    """``Q = V + A - mean(A)`` on ``act(trunk(obs))``, by hand from the parameters, for every core activation."""
    from jaxrl.networks import ACTIVATIONS

    net = dqn.QNetwork((8, 6), 3, act, dueling=True)
    obs = 2.0 * jax.random.normal(jax.random.key(1), (5, 4))
    params = net.init(jax.random.key(0), obs[:1])
    p, f = params["params"], ACTIVATIONS[act]
    dense = lambda x, d: x @ d["kernel"] + d["bias"]  # noqa: E731
    h = f(dense(f(dense(obs, p["trunk"]["hidden_0"])), p["trunk"]["out"]))  # [5, 6]
    v, a = dense(h, p["value"]), dense(h, p["advantage"])  # [5, 1], [5, 3]
    np.testing.assert_allclose(net.apply(params, obs), v + a - a.mean(-1, keepdims=True), rtol=1e-5, atol=1e-5)


def test_learn_step_moves_q_towards_target_and_target_net_by_tau():
    cfg = dqn.Config(total_timesteps=1000, hidden=(8,), tau=0.5, double=False)
    agent = dqn.DQN(cfg)
    hp = agent.hparams({"lr": 1e-2})
    learner = agent.init_learner(jax.random.key(0), hp)
    learner = learner.replace(target=jax.tree.map(lambda x: x * 0.0, learner.target))  # target net outputs 0
    obs = jax.random.normal(jax.random.key(1), (32, 4))
    b = _batch(jnp.full(32, 3.0), jnp.full(32, 0.9))._replace(obs=obs)
    before = agent.q(learner.params, obs)[:, 0]
    new, m, prio = jax.jit(agent.learn)(learner, jax.random.key(2), b, hp, jnp.int32(1))
    after = agent.q(new.params, obs)[:, 0]
    assert float(jnp.mean(jnp.abs(after - 3.0))) < float(jnp.mean(jnp.abs(before - 3.0)))  # target is exactly 3
    np.testing.assert_allclose(np.asarray(prio), np.abs(np.asarray(before) - 3.0) + 1e-6, rtol=1e-5)
    leaf_new, leaf_p = jax.tree.leaves(new.target)[0], jax.tree.leaves(new.params)[0]
    np.testing.assert_allclose(np.asarray(leaf_new), 0.5 * np.asarray(leaf_p), rtol=1e-6)  # 0.5 * 0 + 0.5 * online
    assert set(m) == set(agent.learner_metrics)


# --------------------------------------------------------------------------- loop: chunks, checkpoints, lag
TINY = dict(total_timesteps=4 * 8 * 4, num_envs=4, num_steps=2, learning_starts=16, batch_size=8, buffer_size=64,
            hidden=(16,), gradient_steps=2)


@pytest.mark.parametrize("extra", [dict(), dict(n_step=3, prioritized=True, dueling=True, actor_lag=2)])
def test_chunks_with_checkpoint_equal_one_run(extra, tmp_path):
    cfg = dqn.Config(**TINY, **extra)
    agent = dqn.DQN(cfg)
    assert agent.num_updates == 16
    chex.clear_trace_counter()  # parametrized: the counter is per function definition

    @jax.jit
    @chex.assert_max_traces(n=1)
    def chunk8(s):
        return agent.train_chunk(s, 8)

    init = jax.jit(agent.init)
    s8, m_a = chunk8(init(jax.random.key(3)))
    path = checkpoint.save(tmp_path / "ck", s8)
    restored, _ = checkpoint.restore(path, like=init(jax.random.key(0)))
    s16, m_b = chunk8(restored)
    full, m_full = jax.jit(dqn.make_train(cfg))(jax.random.key(3))
    assert_trees_equal(s16, full)
    assert_trees_equal({k: jnp.concatenate([m_a[k], m_b[k]]) for k in m_full}, m_full)
    assert sorted(m_full) == sorted(agent.metric_names)
    np.testing.assert_array_equal(m_full["env_steps"], np.arange(1, 17) * 8)
    # no learning before learning_starts (16 steps = 2 iterations), learning after
    assert np.isnan(m_full["loss"][0]) and np.all(np.isfinite(m_full["loss"][1:]))
    assert int(full.grad_steps) == 15 * 2
    assert int(agent.replay.size(full.buffer)) == 64  # buffer full, wrapped around (128 steps into 64)


def test_actor_lag_acts_with_params_k_updates_old():
    cfg = dqn.Config(**{**TINY, "learning_starts": 0}, actor_lag=2)
    agent = dqn.DQN(cfg)
    step = jax.jit(agent.update_step)
    s = jax.jit(agent.init)(jax.random.key(0))
    history = [s.learner.params]
    for _ in range(5):
        s, _ = step(s)
        history.append(s.learner.params)
        # the snapshot the next iteration acts with: params after (updates done - 2) updates
        u = int(s.update)
        assert_trees_equal(offpolicy.lag_oldest(s.lag), history[max(u - 2, 0)])
    with pytest.raises(AssertionError):
        assert_trees_equal(history[-1], history[-3])  # parameters did move


# --------------------------------------------------------------------------- learning
@pytest.fixture(scope="module")
def cartpole():
    """Three runs in one program: two seeds, and seed 0 again with a near-zero learning rate."""
    cfg = dqn.Config(total_timesteps=40_000, learning_starts=2_000, gradient_steps=2, anneal_lr=False)
    agent = dqn.DQN(cfg)
    hp = jax.tree.map(lambda x: jnp.stack([x, x, x]), agent.hparams())
    hp = hp.replace(lr=jnp.array([1e-3, 1e-3, 1e-9]))
    keys = jax.random.split(jax.random.key(0), 2)
    states, m = jax.jit(jax.vmap(agent.make_train()))(jnp.concatenate([keys, keys[:1]]), hp)
    return agent, states, jax.device_get(m)


def test_cartpole_improves_quickly_and_lr_is_traced(cartpole):
    agent, states, m = cartpole
    r = m["episode_return"][:2]
    # the lr sweep member shares seed 0's key: same exploration start, but it does not learn
    assert np.nanmean(m["episode_return"][2, -200:]) < 0.5 * np.nanmean(r[0, -200:])
    start, end = np.nanmean(r[:, :100]), np.nanmean(r[:, -200:])
    assert start < 40 and end > 2.5 * start, (start, end)


def test_evaluate_greedy_vmapped(cartpole):
    agent, states, _ = cartpole
    ret = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, 4)))(jax.random.split(jax.random.key(1), 3), states)
    assert ret.shape == (3, 4) and np.all(np.isfinite(ret)) and np.all(np.asarray(ret) >= 1)


@pytest.mark.slow
def test_dqn_solves_cartpole():
    cfg = dqn.Config()  # 200k steps
    agent = dqn.DQN(cfg)
    states, _ = jax.jit(jax.vmap(agent.make_train()))(jax.random.split(jax.random.key(0), 4))
    ev = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, 10)))(jax.random.split(jax.random.key(1), 4), states)
    per_seed = np.asarray(ev).mean(axis=1)
    assert np.sum(per_seed >= 475) >= 3, per_seed
