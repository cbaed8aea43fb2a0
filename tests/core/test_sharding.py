"""jaxrl.sharding: batch axes over several devices give the unsharded results.

The device count is fixed when JAX starts, so the multi-device checks run in one
subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (one
compile of each program: PPO seeds, PBT rounds, ES generations). The in-process
tests cover the single-device path and the argument checks.

Bitwise vs tolerance: rows are independent, but XLA's CPU kernels depend on the
``vmap`` width (8 seeds in one call vs 2 per device round differently in the
last bit, and training amplifies that a little). Sharded runs are therefore
compared *bitwise* with the one-device run of the same per-call width
(``chunked_vmap(fn, B / n_devices)``) and with a tight tolerance against a plain
``vmap``; integer and PRNG outputs (steps, PBT parents and copies) must match exactly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl import sharding as sh

# Runs in a fresh interpreter with 4 CPU devices; prints "OK <name>" per passed check.
MULTI_DEVICE = textwrap.dedent(
    r"""
    import time
    import jax, jax.numpy as jnp, numpy as np
    from jaxrl import sharding as sh
    from jaxrl.agents import ppo
    from jaxrl.meta import pbt as P
    from jaxrl.meta.es import ESConfig, EvolutionStrategy

    assert jax.device_count() == 4, jax.devices()
    T0 = time.perf_counter()

    def arrays(tree):
        return [np.asarray(jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x)
                for x in jax.tree.leaves(tree)]

    def bitwise(a, b, what):
        assert jax.tree.structure(a) == jax.tree.structure(b), what
        for i, (x, y) in enumerate(zip(arrays(a), arrays(b), strict=True)):
            assert x.shape == y.shape and x.dtype == y.dtype, (what, i, x.shape, y.shape)
            np.testing.assert_array_equal(x, y, err_msg=f"{what} leaf {i}")

    def close(a, b, what):  # floats to a few ulps of training drift, everything else exactly
        assert jax.tree.structure(a) == jax.tree.structure(b), what
        for i, (x, y) in enumerate(zip(arrays(a), arrays(b), strict=True)):
            assert x.shape == y.shape and x.dtype == y.dtype, (what, i, x.shape, y.shape)
            if np.issubdtype(x.dtype, np.floating):
                np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=f"{what} leaf {i}")
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"{what} leaf {i}")

    def ok(name):
        print(f"OK {name} {time.perf_counter() - T0:.1f}s", flush=True)

    mesh = sh.batch_mesh("all")
    assert sh.mesh_size(mesh) == 4 and mesh.axis_names == ("batch",)

    # ---- PPO: 8 seeds, 2 per device
    cfg = ppo.Config(total_timesteps=4 * 16 * 8, num_envs=4, num_steps=16, num_minibatches=2, update_epochs=1,
                     actor_hidden=(16,), critic_hidden=(16,))
    train = ppo.make_train(cfg)
    keys = jax.random.split(jax.random.key(0), 8)
    sharded = sh.sharded_vmap(train, mesh)
    out = sharded(keys)
    leaf = jax.tree.leaves(out[1])[0]
    assert leaf.sharding.spec == jax.sharding.PartitionSpec("batch"), leaf.sharding
    assert len(leaf.addressable_shards) == 4 and leaf.addressable_shards[0].data.shape[0] == 2
    one_device = sh.sharded_vmap(train, sh.batch_mesh(1), chunk=2)(keys)  # 2 seeds per call, like each device
    bitwise(out, one_device, "ppo 4 devices vs 1 device with chunk=2")
    ok("ppo_bitwise_same_width")
    plain = jax.jit(jax.vmap(train))(keys)
    close(out, plain, "ppo sharded vs vmap")
    assert np.isfinite(np.asarray(out[1]["total_loss"])).all()
    ok("ppo_close_to_vmap")

    # ---- uneven batch: clear error, or padding that drops the extra rows
    try:
        sharded(keys[:6])
        raise AssertionError("6 seeds on 4 devices did not raise")
    except ValueError as e:
        assert "6" in str(e) and "4 devices" in str(e) and "pad=True" in str(e), e
    f = lambda k, x: (jax.random.normal(k, (3,)) * x[0], x.sum())
    xs = jnp.arange(6 * 2, dtype=jnp.float32).reshape(6, 2)
    got = sh.sharded_vmap(f, mesh, pad=True)(keys[:6], xs)
    want = jax.vmap(f)(keys[:6], xs)
    assert got[0].shape == (6, 3) and got[1].shape == (6,)
    close(got, want, "padded")
    got = sh.sharded_vmap(f, mesh, pad=True, chunk=2)(keys[:5], xs[:5])  # 5 -> 8 rows, 2 per device
    close(got, jax.vmap(f)(keys[:5], xs[:5]), "padded chunked")
    ok("uneven")

    # ---- PBT: one run, population of 4 members sharded 1 per device, 2 rounds
    pcfg = P.PBTConfig(search={"lr": P.Prior(1e-4, 1e-2, log=True)}, population=4, rounds=2,
                       updates_per_round=2, fitness="train", fraction=0.5)
    pbt = P.PBT(ppo.PPO(cfg), pcfg)
    state = jax.jit(pbt.init)(jax.random.key(1))
    ref_state, ref_hist = jax.jit(lambda s: pbt.run(s, 2))(state)
    shardings = sh.population_shardings(state, mesh, pcfg.population)
    run = sh.shard_carry(lambda s: pbt.run(s, 2), shardings)
    got_state, got_hist = run(state)
    m = jax.tree.leaves(got_state.members)[0]
    assert m.sharding.spec == jax.sharding.PartitionSpec("batch") and m.addressable_shards[0].data.shape[0] == 1
    assert got_state.round.sharding.is_fully_replicated
    assert np.asarray(ref_hist["copied"]).any(), "no member copied: the exploit step was not exercised"
    bitwise(got_hist["parent"], ref_hist["parent"], "pbt parents")
    bitwise(got_hist["copied"], ref_hist["copied"], "pbt copies")
    close(got_hist, ref_hist, "pbt history")
    close(got_state, ref_state, "pbt state")
    ok("pbt")

    # ---- ES: population evaluation (each member trains a little regression, 2 seeds) sharded over devices
    target = {"w": jnp.linspace(-1.0, 1.0, 6), "b": jnp.float32(0.5)}

    def member_fitness(params, keys):  # one member [..], keys [S]
        def one_seed(k):
            x = jax.random.normal(k, (32, 6))
            y = x @ target["w"] + target["b"]
            def sgd(p, _):
                g = jax.grad(lambda p: jnp.mean((x @ p["w"] + p["b"] - y) ** 2))(p)
                return jax.tree.map(lambda a, b: a - 0.05 * b, p, g), None
            p, _ = jax.lax.scan(sgd, params, None, length=5)
            return -jnp.mean((x @ p["w"] + p["b"] - y) ** 2)
        return jnp.mean(jax.vmap(one_seed)(keys))

    def population_fitness(pop, keys):  # pop leaves [P, ...], keys [P, S] -> ([P], {name: [P]})
        fit = jax.vmap(member_fitness)(pop, keys)
        return fit, {"loss": -fit}

    template = {"w": jnp.zeros(6), "b": jnp.float32(0.0)}
    es_cfg = ESConfig(popsize=8, num_seeds=2)
    calls = []
    es_ref = EvolutionStrategy(es_cfg, template, population_fitness)
    es_sh = EvolutionStrategy(es_cfg, template, sh.shard_batched(population_fitness, mesh),
                              on_generation=lambda m: calls.append(int(m["generation"])))
    s0 = es_ref.init(jax.random.key(2))
    ref = jax.jit(lambda s: es_ref.run(s, 3))(s0)
    got = jax.block_until_ready(jax.jit(lambda s: es_sh.run(s, 3))(s0))
    jax.effects_barrier()
    assert sorted(calls) == [1, 2, 3], calls  # the progress callback fires once per generation, not per device
    close(got, ref, "es")
    pop, pkeys, _, _ = es_ref.ask(s0)
    one_by_one = jax.jit(sh.shard_batched(population_fitness, mesh, chunk=1))(pop, pkeys)  # 2 lax.map steps/device
    bitwise(one_by_one, jax.jit(sh.shard_batched(population_fitness, mesh))(pop, pkeys), "es chunked evaluation")
    try:
        pop6 = jax.tree.map(lambda x: jnp.zeros((6,) + x.shape), template)
        sh.shard_batched(population_fitness, mesh)(pop6, jax.random.split(jax.random.key(3), (6, 2)))
        raise AssertionError("a population of 6 on 4 devices did not raise")
    except ValueError as e:
        assert "4 devices" in str(e), e
    ok("es")
    """
)


def _run_multi_device(code: str, devices: int = 4, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)


def test_sharded_equals_unsharded_on_four_devices():
    r = _run_multi_device(MULTI_DEVICE)
    passed = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("OK ")]
    assert r.returncode == 0, f"passed {passed}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-6000:]}"
    assert passed == ["ppo_bitwise_same_width", "ppo_close_to_vmap", "uneven", "pbt", "es"], r.stdout


# Two processes x 2 CPU devices on one 4-device mesh (jax.distributed over localhost, gloo collectives).
MULTI_PROCESS = textwrap.dedent(
    r"""
    import sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from jaxrl import sharding as sh
    pid, port = int(sys.argv[1]), sys.argv[2]
    info = sh.initialize_distributed(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    assert info == {"process_index": pid, "process_count": 2, "local_devices": 2, "devices": 4}, info
    import jax.numpy as jnp, numpy as np

    mesh = sh.batch_mesh("all")
    f = lambda k, x: (jax.random.normal(k, (3,)) * x, jnp.sum(x) + jax.random.uniform(k))
    keys, xs = jax.random.split(jax.random.key(0), 8), jnp.arange(8.0)
    want = jax.device_get(jax.vmap(f)(keys, xs))
    out = sh.sharded_vmap(f, mesh)(keys, xs)
    assert not out[0].is_fully_addressable and len(out[0].addressable_shards) == 2
    got = sh.gather(out)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    got = sh.gather(sh.sharded_vmap(f, mesh, pad=True)(keys[:6], xs[:6]))
    np.testing.assert_allclose(got[0], want[0][:6], rtol=1e-6)
    local = sh.put_process_local(np.full((2, 3), pid, np.float32), mesh)  # 2 rows from each process
    assert sh.gather(local)[:, 0].tolist() == [0, 0, 1, 1]
    state = {"m": jnp.ones((4, 2)), "r": jnp.int32(0)}
    fn = lambda s: ({"m": s["m"] * 2, "r": s["r"] + 1}, jnp.sum(s["m"]))
    step = sh.shard_carry(fn, sh.population_shardings(state, mesh, 4))
    new, aux = sh.gather(step(state))
    assert new["m"].sum() == 16 and int(new["r"]) == 1 and float(aux) == 8
    print("OK", pid, flush=True)
    """
)


def test_two_processes_share_one_mesh():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MULTI_PROCESS, str(i), port],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=180))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for i, (p, (out, err)) in enumerate(zip(procs, outs, strict=True)):
        assert p.returncode == 0 and f"OK {i}" in out, f"process {i} rc {p.returncode}\n{out}\n{err[-4000:]}"


# --------------------------------------------------------------------------- single device, in process
def _fn(k, x):
    return jax.random.normal(k, (3,)) + x[:, None], {"s": jnp.sum(x)}


@pytest.fixture
def batch():
    keys = jax.random.split(jax.random.key(0), 6)
    return keys, jnp.arange(12, dtype=jnp.float32).reshape(6, 2)


def test_one_device_mesh_matches_vmap(batch, trees_equal):
    mesh = sh.batch_mesh(1)
    assert sh.mesh_size(mesh) == 1 and mesh.devices.tolist() == [jax.devices()[0]]
    got = sh.sharded_vmap(_fn, mesh)(*batch)
    trees_equal(got, jax.vmap(_fn)(*batch), "one-device sharded_vmap")
    got = sh.sharded_vmap(_fn, mesh, chunk=3)(*batch)
    trees_equal(got, jax.jit(sh.chunked_vmap(_fn, 3))(*batch), "chunked on one device")


def test_chunked_vmap_matches_vmap_and_pads(batch, trees_equal):
    want = jax.vmap(_fn)(*batch)
    for c in (1, 2, 3, 6, 50):
        trees_equal(jax.jit(sh.chunked_vmap(_fn, c))(*batch), want, f"chunk {c}")
    trees_equal(sh.chunked_vmap(_fn, 4, pad=True)(*batch), want, "padded 6 -> 8")


def test_chunked_vmap_errors(batch):
    with pytest.raises(ValueError, match=r"batch of 6 .* multiple of 4 .*pad=True"):
        sh.chunked_vmap(_fn, 4)(*batch)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="chunk must be a positive int"):
            sh.chunked_vmap(_fn, bad)
    with pytest.raises(ValueError, match="different leading"):
        sh.chunked_vmap(_fn, 2)(batch[0], batch[1][:4])
    with pytest.raises(ValueError, match="leading batch axis"):
        sh.chunked_vmap(lambda k, x: k, 2)(batch[0], 1.0)


def test_check_batch_and_mesh_arguments():
    assert sh.check_batch(8, 4) == 8
    assert sh.check_batch(6, 4, pad=True) == 8
    assert sh.check_batch(12, 4, chunk=2, pad=True) == 16  # 3 rows per device do not split into chunks of 2
    assert sh.check_batch(12, 4, chunk=8) == 12  # a chunk wider than a device's slice is a plain vmap
    with pytest.raises(ValueError, match=r"batch of 6 does not split evenly over 4 devices: use a multiple of 4"):
        sh.check_batch(6, 4)
    with pytest.raises(ValueError, match=r"asked for \d+ devices but \d+ are available"):
        sh.batch_mesh(jax.device_count() + 1)
    with pytest.raises(ValueError, match="devices must be"):
        sh.batch_mesh("most")
    assert sh.mesh_size(sh.batch_mesh("all")) == jax.device_count()
    assert sh.mesh_size(sh.batch_mesh("1")) == 1


def test_population_shardings_and_carry(trees_equal):
    mesh = sh.batch_mesh(1)
    state = {"members": jnp.ones((4, 3)), "key": jax.random.key(0), "round": jnp.int32(0)}
    s = sh.population_shardings(state, mesh, 4)
    assert s["members"].spec == jax.sharding.PartitionSpec("batch") and s["round"].spec == jax.sharding.PartitionSpec()

    def step(st):
        return {**st, "members": st["members"] * 2, "round": st["round"] + 1}, jnp.sum(st["members"])

    new, aux = sh.shard_carry(step, s)(state)
    trees_equal(new["members"], 2 * jnp.ones((4, 3)))
    assert int(new["round"]) == 1 and float(aux) == 12.0


def test_gather_single_process(batch):
    out = sh.gather(sh.sharded_vmap(_fn, sh.batch_mesh(1))(*batch))
    assert isinstance(out[0], np.ndarray) and out[0].shape == (6, 2, 3)


def test_enable_compilation_cache(tmp_path):
    keys = (
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
        "jax_persistent_cache_min_entry_size_bytes",
    )
    before = {k: jax.config.values[k] for k in keys}
    try:
        path = sh.enable_compilation_cache(tmp_path / "xla", min_compile_time_s=0.0)
        assert path.is_dir() and jax.config.values["jax_compilation_cache_dir"] == str(path)
        assert jax.config.values["jax_persistent_cache_min_compile_time_secs"] == 0.0
        jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.25)(jnp.arange(7.0)).block_until_ready()
        assert any(path.iterdir()), "nothing was written to the compilation cache"
    finally:
        for k, v in before.items():
            jax.config.update(k, v)
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
