"""Registry mechanics with a throw-away id (the built-in ids are tested in tests/envs/test_contract.py)."""

import pytest

import jaxrl
from jaxrl import registry
from jaxrl.testing import ChainEnv

TEST_ID = "jaxrl-test/Chain-v0"


@pytest.fixture
def registered():
    spec = jaxrl.register(TEST_ID, "jaxrl-test", ChainEnv, 7, "test chain", params={"length": 4})
    try:
        yield spec
    finally:
        registry._REGISTRY.pop(TEST_ID, None)


def test_register_make_and_spec(registered):
    assert jaxrl.spec(TEST_ID) is registered
    assert TEST_ID in jaxrl.list_envs() and jaxrl.list_envs("jaxrl-test") == [TEST_ID]
    env, params = jaxrl.make(TEST_ID)
    assert isinstance(env, ChainEnv) and params.length == 4  # spec params applied
    _, params = jaxrl.make(TEST_ID, length=6, move_reward=2.0)  # overrides win
    assert params.length == 6 and params.move_reward == 2.0
    assert registered.max_episode_steps == 7 and registered.description == "test chain"


def test_register_duplicate_and_overwrite(registered):
    with pytest.raises(ValueError, match="already registered.*overwrite=True"):
        jaxrl.register(TEST_ID, "jaxrl-test", ChainEnv, 7)
    new = jaxrl.register(TEST_ID, "jaxrl-test", ChainEnv, 9, overwrite=True)
    assert jaxrl.spec(TEST_ID) is new and new.max_episode_steps == 9


def test_register_validates_arguments():
    with pytest.raises(ValueError, match="non-empty string"):
        jaxrl.register("", "x", ChainEnv, 5)
    with pytest.raises(TypeError, match="callable"):
        jaxrl.register("jaxrl-test/bad", "x", None, 5)
    with pytest.raises(ValueError, match="positive"):
        jaxrl.register("jaxrl-test/bad", "x", ChainEnv, 0)
    assert "jaxrl-test/bad" not in registry._REGISTRY


def test_unknown_override_names_valid_fields(registered):
    with pytest.raises(ValueError, match=r"\['lenght'\].*valid fields: length, move_reward, stay_reward"):
        jaxrl.make(TEST_ID, lenght=3)


def test_unknown_id_suggests_close_match(registered):
    with pytest.raises(ValueError, match=r"Did you mean: jaxrl-test/Chain-v0"):
        jaxrl.make("jaxrl-test/Chain-v1")
    with pytest.raises(ValueError, match=r"Did you mean: jaxrl-test/Chain-v0"):
        jaxrl.spec("JAXRL-TEST/CHAIN-V0")  # case-insensitive match
    with pytest.raises(ValueError, match="unknown environment id 'zzzzzzzz'") as e:
        jaxrl.spec("zzzzzzzz")
    assert "Did you mean" not in str(e.value)


def test_replace_params_without_overrides_is_identity():
    p = ChainEnv().default_params
    assert registry.replace_params(p, {}) is p
