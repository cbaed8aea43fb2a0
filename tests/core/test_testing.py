"""jaxrl.testing.check_env passes on correct envs and names each kind of defect."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from jaxrl import FINAL_OBS, Step, spaces
from jaxrl.env import check_action
from jaxrl.testing import ChainEnv, ChainParams, EchoEnv, check_env
from jaxrl.wrappers import TimeLimit

FAST = dict(num_steps=12, num_envs=2)


def test_reference_envs_pass():
    report = check_env(ChainEnv(), **FAST)
    assert report.num_envs == 2 and report.episode_ends > 0 and report.terminations == report.episode_ends
    report = check_env(TimeLimit(EchoEnv(), 4), **FAST)
    assert report.truncations == report.episode_ends == 2 * 3  # steps 4, 8, 12 in both envs


def test_arguments():
    with pytest.raises(ValueError, match="num_envs >= 2"):
        check_env(ChainEnv(), num_envs=1)


class SmallObsSpace(ChainEnv):
    def observation_space(self, params):  # the terminal position `length` is outside
        return spaces.Box(0.0, jnp.float32(params.length - 1), (2,))


class IntObs(ChainEnv):
    def _obs(self, state):
        return jnp.stack([state.pos, state.pos])


class VectorReward(ChainEnv):
    def step_env(self, key, state, action, params):
        out = super().step_env(key, state, action, params)
        return out._replace(reward=out.reward[None])


class IntTerminated(ChainEnv):
    def step_env(self, key, state, action, params):
        out = super().step_env(key, state, action, params)
        return out._replace(terminated=out.terminated.astype(jnp.int32))


class FloatState(ChainEnv):
    def step_env(self, key, state, action, params):
        out = super().step_env(key, state, action, params)
        return out._replace(state=out.state.replace(noise=out.state.noise.astype(jnp.bfloat16)))


class NoAutoReset(ChainEnv):
    @partial(jax.jit, static_argnums=0)
    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        check_action(self, action, params)
        out = self.step_env(key, state, action, params)
        return out._replace(info={FINAL_OBS: out.obs})

    def observation_space(self, params):  # positions past the end stay "valid"
        return spaces.Box(0.0, 100.0, (2,))


class BadFinalObs(ChainEnv):
    @partial(jax.jit, static_argnums=0)
    def step(self, key, state, action, params=None):
        out = super().step(key, state, action, params)
        return out._replace(info={FINAL_OBS: out.info[FINAL_OBS] * 0.5})


class NoActionCheck(ChainEnv):
    @partial(jax.jit, static_argnums=0)
    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        k1, k2 = jax.random.split(key)
        out = self.step_env(k1, state, jnp.asarray(action).sum().astype(jnp.int32), params)
        obs, st = jax.lax.cond(out.terminated, lambda: self.reset_env(k2, params), lambda: (out.obs, out.state))
        return Step(obs, st, out.reward, out.terminated, out.truncated, {FINAL_OBS: out.obs})


@struct.dataclass
class StaticParams(ChainParams):
    bonus: float = struct.field(pytree_node=False, default=0.0)


class StaticField(ChainEnv):
    @property
    def default_params(self):
        return StaticParams()


class HostRandom(ChainEnv):
    def reset_env(self, key, params):
        noise = jax.pure_callback(  # ignores the key: not a function of it
            lambda k: np.float32(np.random.rand()), jax.ShapeDtypeStruct((), jnp.float32), key, vmap_method="sequential"
        )
        state = ChainEnv.reset_env(self, key, params)[1].replace(noise=noise)
        return self._obs(state), state


@pytest.mark.parametrize(
    "env,match",
    [
        (SmallObsSpace(), r"info\['final_obs'\] at index .* is outside observation_space"),
        (IntObs(), "reset obs: dtype int32 != space dtype float32"),
        (VectorReward(), r"reward must be a float32 scalar, got float32\[1\]"),
        (IntTerminated(), "terminated must be a bool scalar"),
        (FloatState(), "state from step_env differs from reset"),
        (NoAutoReset(), "at every episode end .* equals the returned obs"),
        (BadFinalObs(), "info\\['final_obs'\\] != obs at index .* although the episode continued"),
        (NoActionCheck(), "action with wrong shape .* was accepted; expected ValueError"),
        (StaticField(), r"re-traced .* static \(pytree_node=False\) fields: \['bonus'\]"),
        (HostRandom(), "same key, different reset_obs"),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, str) else "",
)
def test_check_env_names_the_defect(env, match):
    with pytest.raises(AssertionError, match=match):
        check_env(env, **FAST)
