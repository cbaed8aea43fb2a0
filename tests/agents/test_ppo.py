"""PPO: config validation, loss by hand, GAE use (truncation), chunked training with
checkpoints, hyperparameter sweeps, evaluation and small learning checks.

Slow tests (``-m slow``) learn to published thresholds.
"""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl import checkpoint
from jaxrl import running_stats as rs
from jaxrl.agents import ppo
from jaxrl.networks import Categorical
from jaxrl.testing import assert_trees_equal

# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_envs=0), "num_envs must be a positive integer"),
        (dict(num_steps=-1), "num_steps must be a positive integer"),
        (dict(update_epochs=0), "update_epochs"),
        (dict(num_minibatches=2.0), "num_minibatches must be an integer, got 2.0"),
        (dict(num_envs=3, num_steps=5, num_minibatches=4), "15 is not divisible by num_minibatches=4"),
        (dict(total_timesteps=100), "smaller than one batch"),
        (dict(env_id="CartPole-v2"), "unknown environment id 'CartPole-v2'.*CartPole-v1"),
        (dict(activation="sigmoidal"), "activation"),
        (dict(actor_hidden=(64, 0)), "actor_hidden must be a non-empty tuple of positive layer sizes"),
        (dict(critic_hidden=[64, 32.5]), "critic_hidden must be a list or tuple of int"),
        (dict(lr="1e-3"), r"ppo.Config.lr must be a finite real number, got '1e-3' \(str\)"),
        (dict(num_envs=True), "num_envs must be an integer"),
        (dict(normalize_obs=1), "normalize_obs must be a bool"),
        (dict(env_params=[1]), "env_params must be a mapping"),
        (dict(lr=-1e-3), "lr must be > 0"),
        (dict(gamma=1.5), "gamma must be in"),
        (dict(clip_eps=float("nan")), "clip_eps must be a finite real number"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ppo.Config(**kwargs)


def test_config_derived_sizes_and_hparams():
    cfg = ppo.Config(total_timesteps=500_000)
    assert (cfg.batch_size, cfg.minibatch_size, cfg.num_updates) == (512, 128, 976)
    hp = ppo.default_hparams(cfg)
    assert float(hp.lr) == pytest.approx(2.5e-4) and hp.lr.dtype == jnp.float32
    agent = ppo.PPO(cfg)
    with pytest.raises(ValueError, match="unknown ppo hyperparameter"):
        agent.init(jax.random.key(0), {"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="ent_coef must be >= 0"):
        agent.init(jax.random.key(0), {"ent_coef": -1.0})
    with pytest.raises(ValueError, match="n_updates"):
        agent.train_chunk(None, 0)  # checked before anything is traced


# --------------------------------------------------------------------------- loss by hand


def _hand_batch(normalize):
    # sample 0: logits [0, 0] -> pi(a=0) = 0.5, old 0.4 -> ratio 1.25
    # sample 1: logits [ln 3, 0] -> pi(a=1) = 0.25, old 0.5 -> ratio 0.5
    params = {"logits": jnp.array([[0.0, 0.0], [math.log(3.0), 0.0]]), "v": jnp.array([1.0, 0.0])}
    batch = ppo.Batch(
        obs=jnp.zeros((2, 1)),
        action=jnp.array([0, 1]),
        log_prob=jnp.log(jnp.array([0.4, 0.5])),
        value=jnp.array([0.5, 0.5]),
        advantage=jnp.array([1.0, -2.0]),
        target=jnp.array([2.0, 0.0]),
    )
    return params, batch


def _apply(p, obs):
    return Categorical(p["logits"]), p["v"]


def test_loss_hand_computed():
    params, batch = _hand_batch(False)
    hp = ppo.default_hparams(ppo.Config())  # clip 0.2, vf 0.5, ent 0.01
    total, m = ppo.ppo_loss(params, _apply, batch, hp, jnp.float32(0.0), normalize_advantages=False)
    # policy: -mean(min(1.25*1, 1.2*1), min(0.5*-2, 0.8*-2)) = -mean(1.2, -1.6) = 0.2
    assert float(m["policy_loss"]) == pytest.approx(0.2, abs=1e-6)
    # value: v_clip = [0.7, 0.3]; 0.5 * mean(max(1, 1.69), max(0, 0.09)) = 0.445
    assert float(m["value_loss"]) == pytest.approx(0.445, abs=1e-6)
    ent = (math.log(2.0) + (-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))) / 2
    assert float(m["entropy"]) == pytest.approx(ent, abs=1e-6)
    assert float(total) == pytest.approx(0.2 + 0.5 * 0.445 - 0.01 * ent, abs=1e-6)
    kl = ((0.25 - math.log(1.25)) + (-0.5 - math.log(0.5))) / 2
    assert float(m["approx_kl"]) == pytest.approx(kl, abs=1e-6)
    assert float(m["clip_frac"]) == 1.0
    # both samples sit on the clipped side of the min: no policy gradient flows
    g = jax.grad(lambda p: ppo.ppo_loss(p, _apply, batch, hp, 0.0, normalize_advantages=False)[1]["policy_loss"])(
        params
    )
    np.testing.assert_allclose(g["logits"], 0.0, atol=1e-7)
    # unclipped value loss: 0.5 * mean(1, 0) = 0.25
    _, m2 = ppo.ppo_loss(params, _apply, batch, hp, 0.0, normalize_advantages=False, clip_value_loss=False)
    assert float(m2["value_loss"]) == pytest.approx(0.25, abs=1e-6)


def test_loss_normalised_advantages_and_custom_objective():
    params, batch = _hand_batch(True)
    hp = ppo.default_hparams(ppo.Config())
    # advantages [1, -2] -> [1, -1]; -mean(min(1.25, 1.2), min(-0.5, -0.8)) = -0.2
    _, m = ppo.ppo_loss(params, _apply, batch, hp, 0.0)
    assert float(m["policy_loss"]) == pytest.approx(-0.2, abs=1e-6)
    seen = {}

    def objective(log_ratio, adv, progress, hparams, objective_params):
        seen.update(log_ratio=log_ratio, adv=adv, progress=progress)
        return -jnp.mean(jnp.exp(log_ratio) * adv) * objective_params

    _, m = ppo.ppo_loss(params, _apply, batch, hp, jnp.float32(0.25), objective, objective_params=2.0)
    np.testing.assert_allclose(seen["log_ratio"], np.log([1.25, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(seen["adv"], [1.0, -1.0], rtol=1e-6)
    assert float(seen["progress"]) == 0.25
    assert float(m["policy_loss"]) == pytest.approx(-2.0 * (1.25 - 0.5) / 2, abs=1e-6)


# --------------------------------------------------------------------------- GAE inside PPO


def test_truncation_bootstraps_from_final_obs():
    """PPO's advantages equal a Python-loop oracle that bootstraps truncated steps from V(final_obs)."""
    cfg = ppo.Config(
        env_id="CartPole-v1", env_params={"max_steps_in_episode": 7}, num_envs=3, num_steps=24,
        num_minibatches=1, total_timesteps=72, normalize_obs=True, gamma=0.9, gae_lambda=0.8,
    )
    agent = ppo.PPO(cfg)
    state = agent.init(jax.random.key(3))
    # non-trivial normalisation statistics, so V sees normalised observations
    state = state.replace(obs_stats=rs.RunningMeanStd(jnp.full(4, 0.1), jnp.full(4, 0.5), jnp.float32(10.0)))

    @jax.jit
    def run(state):
        carry, traj = agent.collect(jax.random.key(4), state)
        adv, targets = agent.advantages(state.params, state.obs_stats, state.hparams, traj, traj.reward, carry.obs)
        return carry, traj, adv, targets

    carry, traj, adv, targets = jax.device_get(run(state))
    term, trunc = np.asarray(traj.terminated), np.asarray(traj.truncated)
    assert (trunc & ~term).sum() >= 3, "the test needs truncations"
    v = lambda o: np.asarray(agent.value(state.params, agent.normalize(state.obs_stats, o)))
    values, v_next_obs, v_last = v(traj.obs), v(traj.next_obs), v(carry.obs)
    np.testing.assert_allclose(traj.extras[1], values, rtol=1e-5, atol=1e-5)
    T, B = term.shape
    oracle = np.zeros((T, B))
    wrong = np.zeros((T, B))  # bootstrapping from the reset observation instead
    for b in range(B):
        acc = acc_w = 0.0
        for t in reversed(range(T)):
            following = v_last[b] if t == T - 1 else values[t + 1, b]
            boot = 0.0 if term[t, b] else (v_next_obs[t, b] if trunc[t, b] else following)
            boot_w = 0.0 if term[t, b] else following
            done = term[t, b] or trunc[t, b]
            delta = traj.reward[t, b] + 0.9 * boot - values[t, b]
            delta_w = traj.reward[t, b] + 0.9 * boot_w - values[t, b]
            acc = delta + 0.9 * 0.8 * (0.0 if done else acc)
            acc_w = delta_w + 0.9 * 0.8 * (0.0 if done else acc_w)
            oracle[t, b], wrong[t, b] = acc, acc_w
    np.testing.assert_allclose(adv, oracle, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(targets, oracle + values, rtol=1e-4, atol=1e-5)
    assert np.abs(wrong - oracle).max() > 1e-3, "oracle must distinguish final_obs from the reset obs"


def test_reward_normalisation_matches_oracle():
    cfg = ppo.Config(normalize_reward=True, num_envs=2, num_steps=5, num_minibatches=1, total_timesteps=10, gamma=0.5)
    agent = ppo.PPO(cfg)
    state = agent.init(jax.random.key(0)).replace(discounted_return=jnp.array([1.0, 2.0]))
    rewards = jnp.arange(10.0).reshape(5, 2)
    done = jnp.zeros((5, 2), bool).at[2, 0].set(True)
    scaled, ret, stats = agent._scale_rewards(state, rewards, done)
    acc, seen = np.array([1.0, 2.0]), []
    for t in range(5):
        acc = 0.5 * acc + np.asarray(rewards[t])
        seen.append(acc.copy())
        acc = np.where(np.asarray(done[t]), 0.0, acc)
    seen = np.stack(seen)
    np.testing.assert_allclose(ret, acc, rtol=1e-6)
    np.testing.assert_allclose(stats.var, seen.var(), rtol=1e-3)  # prior count 1e-4 is negligible
    np.testing.assert_allclose(scaled, rewards / np.sqrt(seen.var()), rtol=1e-3)


# --------------------------------------------------------------------------- chunks and checkpoints

TINY = dict(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 4, update_epochs=2, num_minibatches=2)


@pytest.fixture(scope="module")
def tiny():
    cfg = ppo.Config(normalize_obs=True, normalize_reward=True, **TINY)
    return cfg, ppo.PPO(cfg)


def test_chunks_with_checkpoint_equal_one_run(tiny, tmp_path):
    cfg, agent = tiny
    chex.clear_trace_counter()  # the counter is keyed by function name, shared across test modules

    @jax.jit
    @chex.assert_max_traces(n=1)
    def chunk2(s):
        return agent.train_chunk(s, 2)

    init = jax.jit(agent.init)
    s0 = init(jax.random.key(7))
    s2, m_a = chunk2(s0)
    path = checkpoint.save(tmp_path / "ck", s2, {"update": 2, "env_id": cfg.env_id})
    restored, meta = checkpoint.restore(path, like=init(jax.random.key(0)))
    assert meta == {"update": 2, "env_id": "CartPole-v1"}
    s4, m_b = chunk2(restored)  # same shapes and types as a fresh state: no retrace
    full, m_full = jax.jit(ppo.make_train(cfg))(jax.random.key(7))
    assert int(full.update) == agent.num_updates == 4
    assert_trees_equal(s4, full)
    assert_trees_equal({k: jnp.concatenate([m_a[k], m_b[k]]) for k in m_full}, m_full)
    assert sorted(m_full) == sorted(ppo.METRIC_NAMES)
    assert all(v.shape == (4,) for v in m_full.values())
    np.testing.assert_array_equal(m_full["env_steps"], [64, 128, 192, 256])
    assert float(full.obs_stats.count) == pytest.approx(4 * 64, rel=1e-5)  # statistics travel in the state
    assert float(full.return_stats.count) == pytest.approx(4 * 64, rel=1e-5)


def test_checkpoint_of_other_config_rejected(tiny, tmp_path):
    cfg, agent = tiny
    path = checkpoint.save(tmp_path / "ck", jax.jit(agent.init)(jax.random.key(0)))
    other = ppo.PPO(cfg.replace(actor_hidden=(32, 32)))
    with pytest.raises(ValueError, match=r"actor.*hidden_0.*has shape \[64\] but the template has \[32\]"):
        checkpoint.restore(path, like=jax.eval_shape(other.init, jax.random.key(0)))


# --------------------------------------------------------------------------- learning (CartPole)

QUICK = dict(env_id="CartPole-v1", total_timesteps=40_960)  # 80 updates of PureJaxRL's default batch


@pytest.fixture(scope="module")
def cartpole():
    """Three runs in one program: two seeds at the default lr, and a near-zero lr sweep member."""
    cfg = ppo.Config(**QUICK)
    agent = ppo.PPO(cfg)
    keys = jax.random.split(jax.random.key(0), 3)
    hp = jax.tree.map(lambda x: jnp.stack([x, x, x]), ppo.default_hparams(cfg))
    hp = hp.replace(lr=jnp.array([2.5e-4, 2.5e-4, 1e-9]))
    states, metrics = jax.jit(jax.vmap(ppo.make_train(cfg)))(keys, hp)
    return agent, states, jax.device_get(metrics)


def test_cartpole_learns_quickly(cartpole):
    _, _, m = cartpole
    ret = m["episode_return"]  # [3, 80]
    assert ret.shape == (3, 80)
    first, last = np.nanmean(ret[:, :5], axis=1), np.nanmean(ret[:, -10:], axis=1)
    assert (last[:2] > 120).all() and (last[:2] > 3 * first[:2]).all(), (first, last)
    assert last[2] < 60, "a learning rate of 1e-9 must not learn: the swept lr reaches the update"
    for k in ("total_loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac"):
        assert np.isfinite(m[k]).all(), k
    assert (m["entropy"][:2, -1] < m["entropy"][:2, 0]).all()


def test_evaluate_deterministic_and_vmappable(cartpole):
    agent, states, _ = cartpole
    ev = jax.jit(jax.vmap(lambda k, s: agent.evaluate(k, s, 8)))
    keys = jax.random.split(jax.random.key(1), 3)
    r1, r2 = np.asarray(ev(keys, states)), np.asarray(ev(keys, states))
    assert r1.shape == (3, 8) and np.isfinite(r1).all()
    np.testing.assert_array_equal(r1, r2)
    assert r1[:2].mean() > r1[2].mean() + 50, r1.mean(axis=1)
    # one member alone (outside vmap) gives the same returns
    single = jax.tree.map(lambda x: x[0], states)
    np.testing.assert_allclose(jax.jit(agent.evaluate, static_argnums=2)(keys[0], single, 8), r1[0], rtol=1e-5)


def test_evaluate_nan_when_episode_unfinished(cartpole):
    agent, states, _ = cartpole
    single = jax.tree.map(lambda x: x[0], states)
    r = np.asarray(agent.evaluate(jax.random.key(0), single, 4, max_steps=3))
    assert np.isnan(r).all()  # CartPole cannot end in 3 steps from its start state


# --------------------------------------------------------------------------- other spaces


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "Breakout-MinAtar"])
def test_runs_on_continuous_and_image_envs(env_id):
    cfg = ppo.Config(env_id=env_id, normalize_obs=True, **TINY)
    agent = ppo.PPO(cfg)
    assert agent.continuous == (env_id == "Pendulum-v1")

    @jax.jit
    def run(key):
        s, m = agent.train_chunk(agent.init(key), 2)
        return m, agent.evaluate(key, s, 2, max_steps=50)

    m, ret = run(jax.random.key(0))
    for k in ("total_loss", "value_loss", "entropy", "approx_kl"):
        assert np.isfinite(m[k]).all(), (k, m[k])
    assert ret.shape == (2,)


# --------------------------------------------------------------------------- slow: published thresholds


def _final(metrics, last=10):
    return np.nanmean(np.asarray(metrics["episode_return"])[:, -last:], axis=1)


@pytest.mark.slow
def test_cartpole_reaches_475_by_500k():
    cfg = ppo.Config(env_id="CartPole-v1", total_timesteps=500_000)  # PureJaxRL's defaults
    _, m = jax.jit(jax.vmap(ppo.make_train(cfg)))(jax.random.split(jax.random.key(42), 8))
    final = _final(m)
    assert (final >= 475).sum() >= 6, final


@pytest.mark.slow
def test_pendulum_reaches_minus_250():
    cfg = ppo.Config(
        env_id="Pendulum-v1", total_timesteps=500_000, num_envs=16, num_steps=256, num_minibatches=32,
        update_epochs=10, lr=1e-3, gamma=0.95, ent_coef=0.0, normalize_obs=True, normalize_reward=True,
    )
    _, m = jax.jit(jax.vmap(ppo.make_train(cfg)))(jax.random.split(jax.random.key(0), 4))
    final = _final(m, last=20)
    assert (final >= -250).sum() >= 3, final


@pytest.mark.slow
def test_brax_inverted_pendulum_reaches_900_within_300k():
    if "inverted_pendulum" not in jaxrl.list_envs():
        pytest.skip("brax inverted_pendulum is not registered")
    from benchmarks.ppo import INVERTED_PENDULUM as cfg

    agent = ppo.PPO(cfg)

    def run(key):
        s, m = agent.train_chunk(agent.init(key), agent.num_updates)
        return m, agent.evaluate(key, s, 8)

    m, ev = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 4))
    assert cfg.num_updates * cfg.batch_size <= 300_000
    final = _final(m)
    assert (final >= 900).sum() >= 3, final
    assert (np.asarray(ev).mean(axis=1) >= 900).sum() >= 3, ev
