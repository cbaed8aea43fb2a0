"""LPG / TA-LPG: the backward recurrent core, the agent update, lifetimes and antithetic task sharing."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.meta import lpg
from jaxrl.meta.es import ESConfig
from jaxrl.meta.lpg.meta_train import LPGMetaConfig, LPGMetaTrainer, TaskSpec, pair_tasks, sample_lifetime


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_oracle(w_in, w_h, b, x, reset):
    """Python loop, backwards in time, state zeroed where an episode ended at t."""
    w_in, w_h, b, x, reset = (np.asarray(a, np.float64) for a in (w_in, w_h, b, x, reset))
    t_len, batch, _ = x.shape
    hid = w_h.shape[0]
    out = np.zeros((t_len, batch, hid))
    for i in range(batch):
        h = np.zeros(hid)
        for t in reversed(range(t_len)):
            if reset[t, i]:
                h = np.zeros(hid)
            xi, hh = x[t, i] @ w_in + b, h @ w_h
            r = _sigmoid(xi[:hid] + hh[:hid])
            z = _sigmoid(xi[hid : 2 * hid] + hh[hid : 2 * hid])
            n = np.tanh(xi[2 * hid :] + r * hh[2 * hid :])
            h = (1 - z) * n + z * h
            out[t, i] = h
    return out


def test_backward_gru_matches_loop_oracle():
    k = jax.random.split(jax.random.key(0), 4)
    t_len, batch, feat, hid = 9, 3, 5, 4
    w_in = jax.random.normal(k[0], (feat, 3 * hid)) * 0.5
    w_h = jax.random.normal(k[1], (hid, 3 * hid)) * 0.5
    b = jax.random.normal(k[2], (3 * hid,)) * 0.1
    x = jax.random.normal(k[3], (t_len, batch, feat))
    reset = np.zeros((t_len, batch), bool)
    reset[2, 0] = reset[6, 0] = reset[4, 2] = True
    got = lpg.backward_gru(w_in, w_h, b, x, jnp.asarray(reset))
    assert got.shape == (t_len, batch, hid)
    np.testing.assert_allclose(np.asarray(got), gru_oracle(w_in, w_h, b, x, reset), atol=1e-5)


def _inputs(key, t_len=8, batch=2, done=None):
    k = jax.random.split(key, 4)
    y = jax.nn.softmax(jax.random.normal(k[1], (t_len, batch, lpg.Y_DIM)))
    y2 = jax.nn.softmax(jax.random.normal(k[2], (t_len, batch, lpg.Y_DIM)))
    done = jnp.zeros((t_len, batch), bool) if done is None else jnp.asarray(done)
    return lpg.LPGInputs(
        reward=jax.random.normal(k[0], (t_len, batch)),
        terminated=done,
        done=done,
        gamma=jnp.float32(0.99),
        pi_a=jax.random.uniform(k[3], (t_len, batch)),
        y=y,
        y_next=y2,
        progress=jnp.float32(0.3),
        log_lifetime=jnp.log(jnp.float32(50.0)),
    )


@pytest.mark.parametrize("time_aware", [False, True])
def test_rule_shapes_and_no_flow_across_episode_boundaries(time_aware):
    rule = lpg.LPGNetwork(hidden=16, time_aware=time_aware)
    params = rule.init_params(jax.random.key(1))
    assert params["gru_w_in"].shape == (8 if time_aware else 6, 48)
    done = np.zeros((8, 2), bool)
    done[3, 0] = True  # env 0: an episode ends at t = 3; steps 4.. belong to the next episode
    x = _inputs(jax.random.key(2), done=done)
    pi_hat, y_hat = rule.apply({"params": params}, x)
    assert pi_hat.shape == (8, 2) and y_hat.shape == (8, 2, lpg.Y_DIM)
    # change what happens after the boundary (rewards of the next episode) in env 0 only
    x2 = x._replace(reward=x.reward.at[4:, 0].add(5.0))
    pi2, y2 = rule.apply({"params": params}, x2)
    np.testing.assert_array_equal(np.asarray(pi2[:4, 0]), np.asarray(pi_hat[:4, 0]))  # up to the end: untouched
    np.testing.assert_array_equal(np.asarray(y2[:4]), np.asarray(y_hat[:4]))
    assert np.all(np.abs(np.asarray(pi2[4:, 0] - pi_hat[4:, 0])) > 0)  # the later episode sees its rewards
    np.testing.assert_array_equal(np.asarray(pi2[:, 1]), np.asarray(pi_hat[:, 1]))  # env 1 unchanged
    # without the boundary, the later rewards do reach the earlier steps (backward in time)
    x3 = x._replace(done=jnp.zeros_like(x.done), terminated=jnp.zeros_like(x.done))
    x4 = x3._replace(reward=x3.reward.at[4:, 0].add(5.0))
    a, _ = rule.apply({"params": params}, x3)
    b, _ = rule.apply({"params": params}, x4)
    assert np.all(np.abs(np.asarray(a[:4, 0] - b[:4, 0])) > 0)


def test_time_aware_inputs_change_the_output_only_for_ta_lpg():
    x = _inputs(jax.random.key(3))
    for time_aware in (False, True):
        rule = lpg.LPGNetwork(hidden=8, time_aware=time_aware)
        params = rule.init_params(jax.random.key(4))
        a, _ = rule.apply({"params": params}, x)
        b, _ = rule.apply({"params": params}, x._replace(progress=jnp.float32(0.9)))
        assert bool(jnp.any(a != b)) == time_aware


def test_time_inputs():
    p, log_n = lpg.time_inputs(jnp.int32(5), jnp.int32(20))
    assert float(p) == pytest.approx(0.25) and float(log_n) == pytest.approx(np.log(20.0))


class FixedRule(lpg.LPGNetwork):
    """A stand-in rule: pi_hat = c r + n/N + 1000 log N, y_hat logits = [0, 1, ..., m-1]."""

    reward_coef: float = 1.0

    @nn.compact
    def __call__(self, x):
        pi_hat = (
            self.reward_coef * x.reward
            + x.progress
            + 1000.0 * x.log_lifetime
            + 0.0 * self.param("w", jax.nn.initializers.zeros, ())
        )
        y_hat = jnp.broadcast_to(jnp.arange(self.y_dim, dtype=jnp.float32), (*x.reward.shape, self.y_dim))
        return pi_hat, y_hat


def test_agent_gradient_matches_hand_computation():
    """d loss / d output biases: pi head c (onehot(a) - pi) / TB; y head kl_coef y (log y - log y_hat - KL) / TB."""
    net = lpg.AgentNet(num_actions=3, y_dim=lpg.Y_DIM, hidden=(4,))
    rule = FixedRule(hidden=1)
    t_len, batch = 3, 2
    k = jax.random.split(jax.random.key(5), 4)
    obs = jax.random.normal(k[0], (t_len, batch, 2))
    next_obs = jax.random.normal(k[1], (t_len, batch, 2))
    action = jax.random.randint(k[2], (t_len, batch), 0, 3)
    reward = jax.random.normal(k[3], (t_len, batch))
    params = net.init(jax.random.key(6), obs)["params"]
    params = jax.tree.map(lambda x: x * 30.0, params)  # non-uniform policy and predictions
    done = jnp.zeros((t_len, batch), bool)
    kl_coef, progress, log_n = 0.5, jnp.float32(0.25), jnp.log(jnp.float32(40.0))
    grads, m = jax.grad(lpg.lpg_loss, has_aux=True)(
        params, net, rule, {"w": jnp.float32(0)}, obs, action, reward, done, done, next_obs, jnp.float32(0.99),
        progress, log_n, kl_coef,
    )  # fmt: skip
    logits, y_logits = (np.asarray(a, np.float64) for a in net.apply({"params": params}, obs))
    pi = np.exp(logits - logits.max(-1, keepdims=True))
    pi /= pi.sum(-1, keepdims=True)
    c = np.asarray(reward, np.float64) + 0.25 + 1000 * np.log(40.0)
    onehot = np.eye(3)[np.asarray(action)]
    want_pi = np.sum(c[..., None] * (onehot - pi), axis=(0, 1)) / (t_len * batch)
    y = np.exp(y_logits - y_logits.max(-1, keepdims=True))
    y /= y.sum(-1, keepdims=True)
    log_y_hat = np.arange(lpg.Y_DIM) - np.log(np.sum(np.exp(np.arange(lpg.Y_DIM))))
    d = np.log(y) - log_y_hat
    kl = np.sum(y * d, -1, keepdims=True)
    want_y = kl_coef * np.sum(y * (d - kl), axis=(0, 1)) / (t_len * batch)
    np.testing.assert_allclose(np.asarray(grads["pi"]["bias"]), want_pi, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(grads["y"]["bias"]), want_y, rtol=1e-4, atol=1e-6)
    assert float(m["kl"]) == pytest.approx(float(kl.mean()), rel=1e-4)


@pytest.fixture(scope="module")
def tiny_agent():
    cfg = lpg.AgentConfig(env_id="MiniGrid-Empty-5x5-v0", num_envs=4, num_steps=5, obs_scale=0.1, hidden=(16,))
    return lpg.LPGAgent(cfg, FixedRule(hidden=1, reward_coef=0.0))


def test_rule_reads_progress_and_log_of_the_real_lifetime(tiny_agent):
    """The rule sees n / N and log N of the lifetime it trains in (here pi_hat carries both)."""
    rp = {"w": jnp.float32(0)}
    _, m = jax.jit(lambda k: tiny_agent.train(k, rp, 4))(jax.random.key(0))
    want = np.arange(4) / 4 + 1000 * np.log(4.0)  # n = 0, 1, 2, 3 of N = 4
    np.testing.assert_allclose(np.asarray(m["pi_hat"], np.float64), want, rtol=1e-7, atol=1e-4)


def test_traced_lifetimes_stop_each_member_at_its_own_n(tiny_agent):
    rp = {"w": jnp.float32(0)}
    fn = jax.jit(jax.vmap(lambda k, n: tiny_agent.lifetime(k, rp, n)[0].update))
    n = jnp.array([1, 3, 7], jnp.int32)
    np.testing.assert_array_equal(np.asarray(fn(jax.random.split(jax.random.key(1), 3), n)), [1, 3, 7])


def test_sample_lifetime_range_and_log_uniformity():
    n = np.asarray(jax.vmap(lambda k: sample_lifetime(k, 10, 250))(jax.random.split(jax.random.key(0), 4000)))
    assert n.min() >= 10 and n.max() <= 250 and n.dtype == np.int32
    # log-uniform: the geometric midpoint sqrt(10 * 250) = 50 splits the mass in half
    assert abs(np.mean(n < 50) - 0.5) < 0.04


def test_level_sampling_scales_max_steps_with_size():
    spec = TaskSpec("MiniGrid-Empty-8x8-v0", {"random_start": True}, sizes=(5, 8))
    agent = lpg.LPGAgent(spec.agent_config(lpg.AgentConfig(num_envs=2, num_steps=2)), FixedRule(hidden=1))
    levels = jax.vmap(lambda k: spec.sample_level(k, agent.env_params))(jax.random.split(jax.random.key(0), 200))
    size, steps = np.asarray(levels.size), np.asarray(levels.max_steps)
    assert set(size.tolist()) == {5, 6, 7, 8}
    np.testing.assert_array_equal(steps, 4 * size**2)  # MiniGrid Empty: max_steps = 4 size^2


def test_pairs_are_dealt_round_robin_over_tasks():
    groups = pair_tasks(8, 2)
    np.testing.assert_array_equal(groups[0], [0, 2, 4, 6])
    np.testing.assert_array_equal(groups[1], [1, 3, 5, 7])
    for g in pair_tasks(12, 3):  # both members of a pair always train on the same task
        assert {int(m) % 6 for m in g[: len(g) // 2]} == {int(m) % 6 for m in g[len(g) // 2 :]}


def test_antithetic_pairs_train_on_the_same_task_and_key():
    """Identical rules in a pair -> identical fitness (same level, same key, same lifetime)."""
    agent = lpg.AgentConfig(num_envs=4, num_steps=5, hidden=(16,))
    tasks = (TaskSpec("MiniGrid-Empty-8x8-v0", {"random_start": True}, sizes=(5, 8)),
             TaskSpec("MiniGrid-Empty-6x6-v0", sizes=(5, 6)))  # fmt: skip
    cfg = LPGMetaConfig(
        hidden=8, tasks=tasks, agent=agent, lifetime_min=2, lifetime_max=6, lifetime_sharing="pair",
        es=ESConfig(popsize=8, shaping="pairwise", antithetic=True), generations=1,
    )  # fmt: skip
    tr = LPGMetaTrainer(cfg)
    state = tr.init(jax.random.key(0))
    pop, keys, _, _ = tr.es.ask(state)
    np.testing.assert_array_equal(jax.random.key_data(keys[:4]), jax.random.key_data(keys[4:]))
    pop = jax.tree.map(lambda x: jnp.concatenate([x[:4], x[:4]]), pop)  # member j + 4 := member j
    fitness, aux = jax.jit(tr.fitness)(pop, keys)
    np.testing.assert_array_equal(np.asarray(fitness[:4]), np.asarray(fitness[4:]))
    np.testing.assert_array_equal(np.asarray(aux["lifetime"][:4]), np.asarray(aux["lifetime"][4:]))
    assert np.all((np.asarray(aux["lifetime"]) >= 2) & (np.asarray(aux["lifetime"]) <= 6))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lifetime_min=300), "lifetime_min"),
        (dict(lifetime_sharing="member"), "lifetime_sharing"),
        (dict(window=0.0), "window"),
        (dict(es=ESConfig(popsize=8, antithetic=False, strategy="cma_es")), "antithetic"),
        (dict(es=ESConfig(popsize=2), tasks=(TaskSpec("MiniGrid-Empty-5x5-v0"),) * 2), "pairs"),
    ],
)
def test_meta_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LPGMetaConfig(**kwargs)


def test_agent_config_errors():
    with pytest.raises(ValueError, match="MiniGrid-Empty-5x5"):
        lpg.AgentConfig(env_id="MiniGrid-Empty-5x6-v0")
    with pytest.raises(ValueError, match="lr"):
        lpg.AgentConfig(lr=-1.0)
    with pytest.raises(TypeError, match="LPG agent"):
        lpg.LPGAgent(lpg.AgentConfig(env_id="Pendulum-v1"), lpg.LPGNetwork(hidden=4))


def test_study_summary_orders_methods_by_score():
    from jaxrl.meta.lpg import study

    rng = np.random.default_rng(0)
    lifetimes = (10, 100)
    scores = {
        t: {
            "ppo": rng.uniform(0.4, 0.5, (2, 6)),
            "lpg": rng.uniform(0.0, 0.1, (2, 6)),
            "ta_lpg": rng.uniform(0.2, 0.3, (2, 6)),
        }
        for t in ("a", "b")
    }
    s = study.summarise(scores, lifetimes, reps=200)
    for n in lifetimes:
        iqm = {m: s["iqm"][n][m]["iqm"] for m in study.METHODS}
        assert iqm["ppo"] > iqm["ta_lpg"] > iqm["lpg"]
        assert s["iqm"][n]["lpg"]["low"] <= iqm["lpg"] <= s["iqm"][n]["lpg"]["high"]
        assert s["poi"][n]["ta_lpg > lpg"]["p"] == 1.0 and s["poi"][n]["lpg > ppo"]["p"] == 0.0
    np.testing.assert_allclose(study.normalise("CartPole-v1", np.array([250.0])), [0.5])


@pytest.mark.slow
def test_reduced_study_runs_end_to_end(tmp_path):
    import json

    from jaxrl.meta.lpg import study

    assert study.main(["--preset", "reduced", "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "study.json").read_text())
    assert set(rec["scores"]) == set(study.EVAL_TASKS)
    assert all(set(v) == set(study.METHODS) for v in rec["scores"].values())
    assert (tmp_path / "runs" / "ta_lpg" / "checkpoint").exists() and (tmp_path / "lifetimes.png").exists()
    # resuming a finished run trains nothing more
    assert study.main(["--preset", "reduced", "--out", str(tmp_path), "--rules", "lpg"]) == 0


def test_rule_save_and_load_round_trip(tmp_path):
    rule = lpg.LPGNetwork(hidden=8, time_aware=True)
    params = rule.init_params(jax.random.key(3))
    lpg.save_rule(tmp_path / "rule", rule, params, {"generations": 7})
    rule2, params2, meta = lpg.load_rule(tmp_path / "rule")
    assert rule2 == rule and meta["generations"] == 7
    x = _inputs(jax.random.key(4))
    np.testing.assert_array_equal(np.asarray(rule.apply({"params": params}, x)[0]),
                                  np.asarray(rule2.apply({"params": params2}, x)[0]))  # fmt: skip
    from jaxrl import checkpoint

    checkpoint.save(tmp_path / "other", {"a": jnp.zeros(2)})
    with pytest.raises(ValueError, match="not a saved LPG rule"):
        lpg.load_rule(tmp_path / "other")
