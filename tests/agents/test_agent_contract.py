"""The agent contract across agents: config fields declared once (types, checks, derived HParams),
out-of-range traced hyperparameters invalidating the run, ``metric_names``, plain ``make_train``
functions, and environments passed as objects (no registration)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl
from jaxrl.agents import dqn, ppo, pqn, sac, td3
from jaxrl.config import traced_names
from jaxrl.errors import UserError
from jaxrl.testing import ChainEnv, ChainParams

TINY_PPO = dict(num_envs=2, num_steps=8, num_minibatches=1, update_epochs=1, total_timesteps=48)
FAMILIES = {
    "ppo": (ppo, ppo.PPO, TINY_PPO),
    "pqn": (pqn, pqn.PQN, dict(num_envs=2, num_steps=8, num_minibatches=1, update_epochs=1, total_timesteps=48)),
    "dqn": (dqn, dqn.DQN, dict(num_envs=2, total_timesteps=40, learning_starts=4, batch_size=4, buffer_size=64)),
    "sac": (sac, sac.SAC, dict(total_timesteps=20, learning_starts=4, batch_size=4, buffer_size=64)),
    "td3": (td3, td3.TD3, dict(total_timesteps=20, learning_starts=4, batch_size=4, buffer_size=64)),
}


# --------------------------------------------------------------------------- config fields
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_config_types_from_annotations(family):
    mod = FAMILIES[family][0]
    with pytest.raises(UserError, match=rf"{family}.Config.lr must be a finite real number, got '1e-3' \(str\)"):
        mod.Config(lr="1e-3")
    with pytest.raises(ValueError, match=rf"{family}.Config.num_envs must be an integer, got 2.0"):
        mod.Config(num_envs=2.0)
    with pytest.raises(ValueError, match=rf"{family}.Config.hidden|{family}.Config.actor_hidden"):
        mod.Config(**{"actor_hidden" if family == "ppo" else "hidden": (32, -1)})
    with pytest.raises(ValueError, match=rf"{family}.Config.gamma must be in \[0, 1\], got 1.5"):
        mod.Config(gamma=1.5)
    cfg = mod.Config(lr=1)  # an int for a float field is stored as a float
    assert isinstance(cfg.lr, float) and cfg.lr == 1.0
    assert hash(cfg) == hash(mod.Config(lr=1.0))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hparams_derived_from_traced_fields(family):
    mod = FAMILIES[family][0]
    names = traced_names(mod.Config)
    assert tuple(f.name for f in dataclasses.fields(mod.HParams)) == names
    assert names[:2] == ("lr", "gamma") and "num_envs" not in names
    assert mod.HParams.__name__ == "HParams" and mod.HParams.__module__ == mod.Config.__module__
    hp = FAMILIES[family][1](mod.Config(**FAMILIES[family][2], lr=0.5)).hparams()
    assert isinstance(hp, mod.HParams) and float(hp.lr) == 0.5 and hp.lr.dtype == jnp.float32
    stars = ", ".join("*" * len(names))
    assert str(jax.tree_util.tree_structure(hp)) == f"PyTreeDef(CustomNode(HParams[()], [{stars}]))"


def test_config_does_not_build_the_environment(monkeypatch):
    """Config construction checks the id against the registry only; env_params names are checked by the agent."""
    spec = jaxrl.spec("CartPole-v1")

    def boom():
        raise AssertionError("the environment was built")

    registry = {**jaxrl.registry._REGISTRY, "CartPole-v1": dataclasses.replace(spec, factory=boom)}
    monkeypatch.setattr(jaxrl.registry, "_REGISTRY", registry)
    cfg = ppo.Config(env_params={"not_a_param": 1}, **TINY_PPO)  # no error, nothing built
    monkeypatch.undo()
    with pytest.raises(UserError, match="unknown parameter.*not_a_param"):
        ppo.PPO(cfg)
    bad = ppo.Config(env_params={"max_steps_in_episode": "7"}, **TINY_PPO)
    with pytest.raises(UserError, match=r"env_params\['max_steps_in_episode'\] of CartPole-v1 must be an integer"):
        ppo.PPO(bad)


# --------------------------------------------------------------------------- traced out-of-range values
def test_traced_negative_lr_makes_the_run_nonfinite_not_gradient_ascent():
    cfg = ppo.Config(**TINY_PPO)
    with pytest.raises(UserError, match=r"lr must be > 0 \(a finite real number\)"):
        ppo.make_train(cfg)(jax.random.key(0), {"lr": -1.0})  # concrete: rejected before tracing
    train = jax.jit(ppo.make_train(cfg))
    bad, m_bad = train(jax.random.key(0), {"lr": -1.0})  # traced: becomes NaN
    good, m_good = train(jax.random.key(0), {"lr": 1.0})
    assert np.isnan(float(bad.hparams.lr)) and float(good.hparams.lr) == 1.0
    assert not all(np.all(np.isfinite(x)) for x in jax.tree.leaves(bad.params))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(good.params))
    if "nonfinite" in m_bad:  # the core's divergence flag
        assert int(m_bad["nonfinite"][-1]) != 0 and int(m_good["nonfinite"][-1]) == 0


def test_traced_sweep_invalidates_only_the_bad_members():
    cfg = pqn.Config(**FAMILIES["pqn"][2])
    hp = {"gamma": jnp.array([0.9, 1.5, 0.99]), "eps_end": jnp.array([0.1, 0.1, -0.2])}
    states, _ = jax.jit(jax.vmap(pqn.make_train(cfg)))(jax.random.split(jax.random.key(0), 3), hp)
    np.testing.assert_array_equal(np.isnan(np.asarray(states.hparams.gamma)), [False, True, False])
    np.testing.assert_array_equal(np.isnan(np.asarray(states.hparams.eps_end)), [False, False, True])
    np.testing.assert_array_equal(np.isnan(np.asarray(states.hparams.lr)), [False, True, True])  # voided too
    finite = np.asarray([np.all(np.isfinite(x.reshape(3, -1)), axis=1) for x in jax.tree.leaves(states.params)])
    np.testing.assert_array_equal(finite.all(axis=0), [True, False, False])


# --------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_agents_satisfy_the_protocol_and_name_their_metrics(family):
    mod, cls, kw = FAMILIES[family]
    agent = cls(mod.Config(**kw))
    assert isinstance(agent, jaxrl.Agent)
    state = jax.eval_shape(agent.init, jax.random.key(0))
    _, metrics = jax.eval_shape(lambda s: agent.train_chunk(s, 2), state)
    assert sorted(metrics) == sorted(agent.metric_names)
    assert all(m.shape == (2,) for m in metrics.values())
    train = mod.make_train(mod.Config(**kw))
    assert not hasattr(train, "agent")
    assert isinstance(jaxrl.make_agent(family, mod.Config(**kw)), cls)


def test_unregistered_environment_object_trains_without_register():
    env = jaxrl.wrappers.TimeLimit(ChainEnv(), 10)
    assert "Chain" not in " ".join(jaxrl.list_envs())
    cfg = ppo.Config(env_params={"length": 2}, **TINY_PPO)  # overrides apply to the object's params
    agent = ppo.PPO(cfg, env=env)
    assert agent.env_params.length == 2 and agent.spec.env_id == env.name
    state, metrics = jax.jit(agent.make_train())(jax.random.key(0))
    assert np.all(np.isfinite(np.asarray(metrics["total_loss"])))
    returns = np.asarray(agent.evaluate(jax.random.key(1), state, 3))  # default horizon: 2 * fallback limit
    assert returns.shape == (3,)
    # explicit params, and the other families through the same keyword
    agent = pqn.PQN(pqn.Config(**FAMILIES["pqn"][2]), env=env, env_params=ChainParams(length=4))
    assert agent.env_params.length == 4
    dqn.DQN(dqn.Config(**FAMILIES["dqn"][2]), env=env)
    with pytest.raises(UserError, match="unknown parameter.*colour"):
        ppo.PPO(ppo.Config(env_params={"colour": 1}, **TINY_PPO), env=env)
    with pytest.raises(UserError, match="Environment"):
        ppo.PPO(ppo.Config(**TINY_PPO), env=object())


def test_ppo_objective_params_live_in_the_state():
    cfg = ppo.Config(**TINY_PPO)
    seen = []

    def scaled(log_ratio, adv, progress, hparams, objective_params):
        seen.append(objective_params)
        return -jnp.mean(jnp.exp(log_ratio) * adv) * objective_params["scale"]

    train = ppo.make_train(cfg, scaled)
    state, m = jax.jit(train)(jax.random.key(0), None, {"scale": jnp.float32(0.0)})
    assert float(state.objective_params["scale"]) == 0.0 and seen
    assert np.all(np.asarray(m["policy_loss"]) == 0.0)  # -mean(r A) * 0
    assert ppo.PPO(cfg).init(jax.random.key(0)).objective_params is None
