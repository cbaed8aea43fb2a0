"""Population based training: exploit copies whole train states bit for bit, explore stays in bounds,
readiness, random search, lineage, and the whole run jitted and vmapped."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxrl.agents import ppo
from jaxrl.meta import pbt as P

TINY = ppo.Config(total_timesteps=4 * 16 * 8, num_envs=4, num_steps=16, num_minibatches=2, update_epochs=1,
                  actor_hidden=(16,), critic_hidden=(16,), normalize_obs=True)
SEARCH = {"lr": P.Prior(1e-4, 1e-2, log=True), "ent_coef": P.Prior(0.0, 0.05)}


def leaves_equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return all(
        np.array_equal(np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x),
                       np.asarray(jax.random.key_data(y) if jnp.issubdtype(y.dtype, jax.dtypes.prng_key) else y))
        for x, y in zip(la, lb, strict=True)
    )


def member(state, i):
    return jax.tree.map(lambda x: x[i], state.members)


def key_bits(state) -> np.ndarray:
    """``[P, ...]`` uint32 data of the members' PRNG keys."""
    return np.asarray(jax.random.key_data(state.members.key))


def all_distinct(rows: np.ndarray) -> bool:
    return len({r.tobytes() for r in rows}) == len(rows)


@pytest.fixture(scope="module")
def trained():
    """A population of 8 after one round of training (members differ in params, optimiser and obs statistics)."""
    cfg = P.PBTConfig(search=SEARCH, population=8, rounds=2, updates_per_round=2, fitness="train")
    pbt = P.PBT(ppo.PPO(TINY), cfg)
    state = jax.jit(pbt.init)(jax.random.key(0))
    members, _ = jax.jit(jax.vmap(lambda s: pbt.agent.train_chunk(s, 2)))(state.members)
    return pbt, state.replace(members=members, round=jnp.int32(1))


FITNESS = jnp.array([5.0, 1.0, 7.0, 3.0, 0.5, 6.0, 2.0, 8.0])  # bottom two: 4, 1; top two: 7, 2


def test_exploit_copies_whole_state_from_a_top_donor_and_leaves_survivors(trained):
    pbt, state = trained
    new, rec = jax.jit(pbt.exploit_explore)(jax.random.key(1), state, FITNESS)
    parent, copied = np.asarray(rec["parent"]), np.asarray(rec["copied"])
    assert set(np.flatnonzero(copied)) == {1, 4}
    assert set(parent[[1, 4]]) <= {2, 7}
    for i in range(8):
        got = member(new, i)
        if i in (1, 4):
            donor = member(state, parent[i])
            # everything but the searched hyperparameters and the PRNG key is the donor's, bit for bit
            assert leaves_equal(got.replace(hparams=None, key=None), donor.replace(hparams=None, key=None))
            # the key is fresh: fold_in(fold_in(the loser's own key, round), member index)
            want = jax.random.fold_in(jax.random.fold_in(member(state, i).key, 1), i)
            assert leaves_equal(got.key, want) and not leaves_equal(got.key, donor.key)
            assert not leaves_equal(got.params, member(state, i).params)
            assert leaves_equal(got.obs_stats, donor.obs_stats) and leaves_equal(got.opt_state, donor.opt_state)
            assert float(got.hparams.clip_eps) == float(donor.hparams.clip_eps)  # not searched: copied as is
        else:
            assert parent[i] == i
            assert leaves_equal(got, member(state, i))  # survivors untouched, hyperparameters included
    np.testing.assert_array_equal(np.asarray(new.last_copy), [0, 1, 0, 0, 1, 0, 0, 0])
    assert all_distinct(key_bits(new))  # no two members share a random stream


def test_a_copy_draws_its_own_randomness(trained):
    """After an exploit, loser and donor act, reset and shuffle with different randomness: one update from the same
    parameters (a rollout does not depend on the learning rate) leads them to different environment states."""
    pbt, state = trained
    new, rec = jax.jit(pbt.exploit_explore)(jax.random.key(1), state, FITNESS)
    pair = np.array([1, int(rec["parent"][1])])  # a loser and its donor
    two = jax.tree.map(lambda x: x[pair], new.members)
    assert leaves_equal(jax.tree.map(lambda x: x[0], two.obs), jax.tree.map(lambda x: x[1], two.obs))  # copied
    after, _ = jax.jit(jax.vmap(lambda s: pbt.agent.train_chunk(s, 1)))(two)
    assert not np.array_equal(np.asarray(after.obs[0]), np.asarray(after.obs[1]))


@pytest.mark.parametrize("resample_prob", [0.0, 1.0])
def test_explore_perturbs_by_factors_or_resamples_within_bounds(trained, resample_prob):
    pbt, state = trained
    cfg = P.PBTConfig(**{**pbt.cfg.__dict__, "resample_prob": resample_prob})
    p2 = P.PBT(pbt.agent, cfg)
    for seed in range(4):
        new, rec = jax.jit(p2.exploit_explore)(jax.random.key(seed), state, FITNESS)
        for i in np.flatnonzero(np.asarray(rec["copied"])):
            donor = int(rec["parent"][i])
            for name, prior in SEARCH.items():
                v = float(getattr(member(new, i).hparams, name))
                d = float(getattr(member(state, donor).hparams, name))
                assert prior.low <= v <= prior.high
                if resample_prob == 0.0:
                    allowed = [min(max(d * f, prior.low), prior.high) for f in (0.8, 1.2)]
                    assert min(abs(v - a) for a in allowed) <= 1e-6 * max(abs(d), 1e-6), (name, v, d)


def test_not_ready_members_are_not_copied(trained):
    pbt, state = trained
    cfg = P.PBTConfig(**{**pbt.cfg.__dict__, "ready_rounds": 2, "rounds": 4})
    p2 = P.PBT(pbt.agent, cfg)
    state = state.replace(round=jnp.int32(3), last_copy=jnp.array([0, 2, 0, 0, 0, 0, 0, 0], jnp.int32))
    new, rec = jax.jit(p2.exploit_explore)(jax.random.key(1), state, FITNESS)
    assert list(np.flatnonzero(np.asarray(rec["copied"]))) == [4]  # member 1 copied a round ago: not ready
    assert leaves_equal(member(new, 1), member(state, 1))


def test_tournament_losers_copy_better_members():
    cfg = P.PBTConfig(search=SEARCH, population=8, selection="tournament")
    parent, loses = P.select(jax.random.key(3), FITNESS, cfg)
    parent, loses = np.asarray(parent), np.asarray(loses)
    f = np.asarray(FITNESS)
    assert np.all(f[parent[loses]] > f[loses]) and np.all(parent[~loses] == np.flatnonzero(~loses))
    assert not loses[int(np.argmax(f))]  # the best never loses
    # NaN fitness counts as worst
    parent, loses = P.select(jax.random.key(0), FITNESS.at[7].set(jnp.nan), P.PBTConfig(search=SEARCH, population=8))
    assert bool(loses[7])


def test_whole_run_jitted_vmapped_and_random_search_never_copies():
    cfg = P.PBTConfig(search=SEARCH, population=4, rounds=2, updates_per_round=2, fitness="eval", eval_episodes=2)
    run = P.make_pbt(ppo.PPO(TINY), cfg)
    keys = jax.random.split(jax.random.key(0), 2)
    states, hist = jax.jit(jax.vmap(run))(keys)
    assert hist["fitness"].shape == (2, 2, 4) and hist["hparams"]["lr"].shape == (2, 2, 4)
    assert np.all(np.asarray(states.round) == 2)
    assert not np.allclose(np.asarray(hist["fitness"][0]), np.asarray(hist["fitness"][1]))  # keys differ
    # population of 4, fraction 0.25: one copy after the first round; none after the last, so the population
    # returned is the one trained in the last round (no untrained clones), every member its own parameters
    np.testing.assert_array_equal(np.asarray(hist["copied"]).sum(-1), [[1, 0], [1, 0]])
    np.testing.assert_array_equal(np.asarray(hist["parent"])[:, -1], np.tile(np.arange(4), (2, 1)))
    for run in range(2):
        one = jax.tree.map(lambda x, r=run: x[r], states)
        params = np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(one.members.params))  # [4, D]
        assert all_distinct(params) and all_distinct(key_bits(one))
    assert np.asarray(states.last_copy).max() <= 1  # nobody copied in round 2
    rs = P.make_pbt(ppo.PPO(TINY), P.PBTConfig(**{**cfg.__dict__, "exploit": False}))
    _, h = jax.jit(rs)(keys[0])
    assert not np.asarray(h["copied"]).any()
    np.testing.assert_array_equal(np.asarray(h["parent"]), np.tile(np.arange(4), (2, 1)))
    # hyperparameters stay what was sampled: a fixed setting per member
    np.testing.assert_array_equal(np.asarray(h["hparams"]["lr"][0]), np.asarray(h["hparams"]["lr"][1]))


def test_lineage_and_incumbent_schedule():
    hist = {
        "parent": np.array([[0, 0, 2], [0, 1, 1], [0, 1, 2]]),  # after round 0: 1 copied 0; after round 1: 2 copied 1
        "fitness": np.array([[1.0, 0.0, 2.0], [1.0, 3.0, 0.0], [0.0, 1.0, 5.0]]),
        "hparams": {"lr": np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])},
    }
    np.testing.assert_array_equal(P.lineage(hist, 2), [0, 1, 2])
    best, sched = P.incumbent_schedule(hist)
    assert best == 2
    np.testing.assert_array_equal(sched["lr"], [1.0, 20.0, 300.0])


def test_replay_schedule_sets_hyperparameters_per_round():
    agent = ppo.PPO(TINY)
    sched = {"lr": jnp.array([1e-3, 2e-3]), "ent_coef": jnp.array([0.0, 0.01])}
    state, metrics = jax.jit(lambda k: P.replay_schedule(agent, sched, k, 2))(jax.random.key(0))
    assert float(state.hparams.lr) == pytest.approx(2e-3) and metrics["episode_return"].shape == (4,)
    assert int(state.update) == 4


def test_bad_configs():
    with pytest.raises(ValueError, match="search is empty"):
        P.PBTConfig()
    with pytest.raises(ValueError, match="log-scale Prior"):
        P.Prior(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="selection"):
        P.PBTConfig(search=SEARCH, selection="roulette")
    with pytest.raises(ValueError, match="unknown hyperparameter.*learning_rate"):
        P.PBT(ppo.PPO(TINY), P.PBTConfig(search={"learning_rate": P.Prior(0.1, 1.0)}))


def test_cli_writes_history_plots_and_resumes(tmp_path, capsys):
    from jaxrl.cli import main

    out = tmp_path / "pbt"
    argv = ["pbt", "ppo", "--population", "3", "--rounds", "2", "--updates-per-round", "2", "--fitness", "train",
            "--search", "lr=1e-4:1e-2:log", "--out", str(out), "--no-progress"]
    for k, v in dict(total_timesteps=TINY.total_timesteps, num_envs=4, num_steps=16, num_minibatches=2,
                     update_epochs=1, actor_hidden=(16,), critic_hidden=(16,)).items():
        argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0
    hist = json.loads((out / "history.json").read_text())
    assert np.asarray(hist["fitness"]).shape == (2, 3) and np.asarray(hist["hparams"]["lr"]).shape == (2, 3)
    assert not np.asarray(hist["copied"])[-1].any()  # round by round too: the last round copies nothing
    inc = json.loads((out / "incumbent.json").read_text())
    assert len(inc["schedule"]["lr"]) == 2 and 1e-4 <= min(inc["schedule"]["lr"]) <= 1e-2
    for f in ("schedules.png", "lineage.png"):
        assert (out / f).read_bytes()[:4] == b"\x89PNG"
    assert main(["pbt", "--resume", str(out)]) == 0  # finished: nothing left to train, same incumbent
    assert json.loads((out / "incumbent.json").read_text())["schedule"] == inc["schedule"]
    with pytest.raises(SystemExit, match="not empty"):
        main(argv)
    with pytest.raises(SystemExit):
        main(["pbt", "ppo", "--search", "lr=1:0", "--out", str(tmp_path / "x")])
    assert "Prior needs finite low < high" in capsys.readouterr().err


def test_off_policy_members_copy_their_replay_buffer():
    from jaxrl.agents import dqn

    agent = dqn.DQN(dqn.Config(total_timesteps=4 * 8 * 4, num_envs=4, num_steps=2, learning_starts=8, batch_size=8,
                               buffer_size=64, hidden=(8,)))
    pbt = P.PBT(agent, P.PBTConfig(search={"lr": P.Prior(1e-4, 1e-2, log=True)}, population=4, fitness="train"))
    state = jax.jit(pbt.init)(jax.random.key(0))
    members, _ = jax.jit(jax.vmap(lambda s: agent.train_chunk(s, 3)))(state.members)
    state = state.replace(members=members, round=jnp.int32(1))
    new, rec = jax.jit(pbt.exploit_explore)(jax.random.key(1), state, jnp.array([1.0, 4.0, 0.0, 2.0]))
    assert list(np.flatnonzero(np.asarray(rec["copied"]))) == [2] and int(rec["parent"][2]) == 1
    assert leaves_equal(member(new, 2).buffer, member(state, 1).buffer)  # replay contents travel with the copy
    assert leaves_equal(member(new, 2).learner, member(state, 1).learner)
    assert not leaves_equal(member(new, 2).key, member(state, 1).key) and all_distinct(key_bits(new))
    assert not leaves_equal(member(state, 2).buffer.data, member(state, 1).buffer.data)


def test_pbt_takes_any_jaxrl_agent_and_names_what_is_missing():
    """PBT checks the agent contract; the LPG agent (traced lr and kl_coef) is searchable like any other."""
    import jaxrl
    from jaxrl.meta.pbt import PBT, PBTConfig

    class NotAnAgent:
        def init(self, key, hparams=None):
            return {"key": key}

    cfg = PBTConfig(population=2, rounds=1, updates_per_round=1, search={"lr": P.Prior(1e-4, 1e-2, True)})
    with pytest.raises(TypeError, match="missing cfg, num_updates, metric_names, train_chunk, evaluate"):
        PBT(NotAnAgent(), cfg)
    lpg = jaxrl.make_agent("lpg", num_envs=2, num_steps=4, total_timesteps=16, hidden=(8,))
    members = jax.eval_shape(PBT(lpg, cfg).init, jax.random.key(0)).members
    assert members.hparams.lr.shape == (2,) and members.key.shape == (2,)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        PBT(lpg, cfg.replace(search={"clip_eps": P.Prior(0.1, 0.3)}))
