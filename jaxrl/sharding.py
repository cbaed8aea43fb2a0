"""Beyond one device: a leading batch axis (seeds, population members) sharded over a device mesh.

JAX is the distributed engine; this module only names the batch axis and puts it
on a one-axis :class:`jax.sharding.Mesh`. Every device runs its slice of the batch
in the same compiled program (``jax.shard_map``), and across hosts the same code
runs once per process after :func:`initialize_distributed`.

Independent runs (seeds of ``train``, ``meta_train`` or ``pbt``)::

    mesh = batch_mesh("all")                                # every device (of every process)
    train = sharded_vmap(ppo.make_train(cfg), mesh)         # jit(shard_map(vmap(train)))
    states, metrics = train(jax.random.split(key, 64))      # 64 seeds, 64 / n_devices per device
    states, metrics = sharded_vmap(make_pbt(agent, pcfg), mesh)(keys)    # PBT runs, one per key

One run whose population lives inside the program:

* ES (``jaxrl.meta.es``): the population evaluation is a batch function
  ``fitness_fn(pop [P, ...], keys [P, S]) -> (fitness [P], aux {name: [P]})``;
  ``es.fitness_fn = shard_batched(es.fitness_fn, mesh)`` evaluates ``P / n_devices``
  members per device (``trainer.es`` of a ``MetaTrainer`` likewise);
* PBT (``jaxrl.meta.pbt``): ``shard_carry(pbt.round_step, population_shardings(state, mesh, P))``
  (or ``pbt.run``) keeps the members ``[P, ...]`` of the state sharded and lets XLA
  partition the member ``vmap`` (one program, no host round trips).

Results. Rows are independent, so sharding changes which device computes a row,
not what is computed -- but XLA picks kernels by batch width, so a ``vmap`` over 8
rows and over 2 rows may round differently in the last bit (and long training
runs then drift apart, like runs on another machine). What is bitwise
reproducible is the per-call width: a run sharded over ``d`` devices equals
:func:`chunked_vmap` with ``chunk = B / d`` on one device, and with a fixed
``chunk=c`` :func:`sharded_vmap` gives the same bits on every device count ``d``
with ``B / d`` a multiple of ``c``. Against a plain ``vmap`` of all ``B`` rows
results agree up to float rounding.

Memory. ``chunk=`` (here and in :func:`chunked_vmap`) runs each device's slice in
``lax.map`` blocks of ``chunk`` rows: peak memory scales with ``chunk`` instead of
the slice, at the price of a sequential loop.

Uneven batches. The batch must divide by ``n_devices`` (times ``chunk``); otherwise
a ``ValueError`` says which sizes work. ``pad=True`` instead repeats the last row up
to the next multiple and strips the extra rows from every output (their compute
is wasted, nothing else changes).

Multi-host (one process per host, same script on every host)::

    # host i of N, e.g. under SLURM/Kubernetes/TPU pods the arguments are detected automatically
    from jaxrl import sharding
    sharding.initialize_distributed("10.0.0.1:1234", num_processes=N, process_id=i)
    mesh = sharding.batch_mesh("all")                    # jax.device_count() devices over N hosts
    keys = jax.random.split(jax.random.key(0), 256)      # the same global value on every host
    states, metrics = sharding.sharded_vmap(train, mesh)(keys)
    metrics = sharding.gather(metrics)                   # numpy, full batch, on every host

Every process must call the sharded function with the same *global* inputs
(built from the same seed); :func:`put_batch` turns them into global arrays whose
rows live on the devices of the process that computes them. Inputs that differ
per process are assembled with :func:`put_process_local` instead.

Compile time. :func:`enable_compilation_cache` stores compiled programs on disk so
a second launch with the same shapes and flags skips XLA compilation.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

BATCH = "batch"  # the mesh axis name of the batch

__all__ = [
    "BATCH",
    "batch_mesh",
    "batch_sharding",
    "batch_size",
    "check_batch",
    "chunked_vmap",
    "enable_compilation_cache",
    "gather",
    "initialize_distributed",
    "mesh_size",
    "population_shardings",
    "put_batch",
    "put_process_local",
    "put_replicated",
    "replicated",
    "shard_batched",
    "shard_carry",
    "sharded_vmap",
]


# =========================================================================== mesh
def batch_mesh(devices: str | int | Sequence[jax.Device] | None = "all", axis_name: str = BATCH) -> Mesh:
    """A one-axis mesh ``(axis_name,)`` for the batch.

    ``devices``: ``"all"`` / ``None`` -- every device, i.e. ``jax.devices()`` (all
    processes' devices once :func:`initialize_distributed` ran, else the local
    ones); an int ``n`` -- the first ``n`` of them (single process only: with
    several processes use ``"all"``); or an explicit sequence of devices.
    """
    everything = jax.devices()
    if devices is None or (isinstance(devices, str) and devices.lower() == "all"):
        devs = list(everything)
    elif isinstance(devices, str):
        if not devices.strip().isdigit():
            raise ValueError(f"devices must be 'all', a positive int or a list of devices, got {devices!r}")
        return batch_mesh(int(devices), axis_name)
    elif isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(everything):
            raise ValueError(
                f"asked for {devices} devices but {len(everything)} are available ({everything[0].platform}); "
                "on CPU, set XLA_FLAGS=--xla_force_host_platform_device_count=N before jax is imported"
            )
        if jax.process_count() > 1 and devices != len(everything):
            raise ValueError(f"with {jax.process_count()} processes use devices='all' (got {devices})")
        devs = list(everything[:devices])
    else:
        devs = list(devices)
        if not devs:
            raise ValueError("batch_mesh needs at least one device")
    return Mesh(np.array(devs), (axis_name,), axis_types=(AxisType.Auto,))


def mesh_size(mesh: Mesh) -> int:
    """Number of devices of the mesh's batch axis."""
    (name,) = mesh.axis_names
    return int(mesh.shape[name])


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh: ``[B, ...]`` -> ``[B / n_devices, ...]`` per device."""
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def _default_mesh(mesh: Mesh | None) -> Mesh:
    return batch_mesh("all") if mesh is None else mesh


# =========================================================================== batch sizes
def batch_size(tree: Any) -> int:
    """The common leading size ``B`` of every leaf of ``tree`` (``ValueError`` when they differ)."""
    sizes = {int(np.shape(x)[0]) if np.ndim(x) else None for x in jax.tree.leaves(tree)}
    if not sizes:
        raise ValueError("no array arguments: nothing to map over")
    if None in sizes:
        raise ValueError("every argument leaf needs a leading batch axis (close over unbatched values instead)")
    if len(sizes) > 1:
        raise ValueError(f"arguments have different leading (batch) sizes {sorted(sizes)}")
    return sizes.pop()


def check_batch(n: int, devices: int = 1, chunk: int | None = None, pad: bool = False) -> int:
    """The batch size the computation runs with: ``n`` itself when ``devices * chunk`` divides it,
    the next multiple with ``pad=True``, else a ``ValueError`` naming the sizes that work."""
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"chunk must be a positive int or None, got {chunk!r}")
    if n < 1:
        raise ValueError(f"empty batch (size {n})")
    per_device = -(-n // devices)  # rows per device after padding
    step = devices * (min(chunk, per_device) if chunk else 1)
    if n % step == 0:
        return n
    if pad:
        return -(-n // step) * step
    what = f"{devices} devices" if not chunk else f"{devices} device(s) x chunks of {min(chunk, per_device)}"
    lo, hi = (n // step) * step, -(-n // step) * step
    raise ValueError(
        f"batch of {n} does not split evenly over {what}: use a multiple of {step} "
        f"(e.g. {lo or step} or {hi}), or pad=True to repeat the last row up to {hi} and drop the extra outputs"
    )


def _pad_rows(tree: Any, target: int) -> Any:
    def pad(x):
        extra = target - x.shape[0]
        return x if extra == 0 else jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree)


def _take_rows(tree: Any, n: int) -> Any:
    return jax.tree.map(lambda x: x[:n], tree)


def _check_leading(out: Any, size: int, what: str) -> None:
    for x in jax.tree.leaves(out):
        if not np.ndim(x) or np.shape(x)[0] != size:
            raise ValueError(f"{what}: every output needs the leading batch axis of size {size}, got {np.shape(x)}")


# =========================================================================== mapping
def _map_rows(fn: Callable, args: tuple, chunk: int | None) -> Any:
    """``vmap(fn)`` over the leading axis of ``args``, in ``lax.map`` blocks of ``chunk`` rows when given."""
    n = batch_size(args)
    if chunk is None or chunk >= n:
        return jax.vmap(fn)(*args)
    return jax.lax.map(lambda a: fn(*a), args, batch_size=chunk)


def chunked_vmap(fn: Callable, chunk: int, *, pad: bool = False) -> Callable:
    """``vmap(fn)`` over the leading axis of every argument, ``chunk`` rows at a time (``lax.map``).

    ``chunked_vmap(f, c)(xs [B, ...]) == jax.vmap(f)(xs)`` up to float rounding
    (bitwise equal to ``c`` separate ``vmap`` calls of width ``c``), with the
    memory of one width-``c`` ``vmap``. ``B % c != 0`` is a ``ValueError``, or with
    ``pad=True`` the last row is repeated up to a multiple of ``c`` and the extra
    outputs are dropped (each block then compiles once; no remainder program).
    Not jitted: call it inside ``jax.jit``.
    """
    check_batch(1, 1, chunk)  # validates chunk

    @functools.wraps(fn)
    def mapped(*args):
        n = batch_size(args)
        m = check_batch(n, 1, chunk, pad)
        out = _map_rows(fn, _pad_rows(args, m), chunk)
        _check_leading(out, m, "chunked_vmap")
        return _take_rows(out, n) if m != n else out

    return mapped


def shard_batched(fn: Callable, mesh: Mesh | None = None, *, chunk: int | None = None) -> Callable:
    """Run a *batch* function with its leading axis split over ``mesh``: each device calls ``fn`` on its slice.

    ``fn(*args)`` takes pytrees with leading axis ``B`` and returns pytrees with leading
    axis ``B`` whose rows depend only on the same rows of the inputs (e.g. an ES
    population evaluation ``(pop [P, ...], keys [P, S]) -> (fitness [P], aux {name: [P]})``).
    The result runs ``fn`` on ``B / n_devices`` rows per device (via ``jax.shard_map``;
    with ``chunk`` each device's slice is evaluated in ``lax.map`` blocks of
    ``chunk`` rows, calling ``fn`` on one block at a time).
    It can be used inside ``jit``/``scan``; ``B`` must divide by ``n_devices`` (times ``chunk``).
    """
    mesh = _default_mesh(mesh)
    d, spec = mesh_size(mesh), PartitionSpec(mesh.axis_names[0])

    def local(*args):  # one device's rows
        n = batch_size(args)
        if chunk is None or chunk >= n:
            out = fn(*args)
        else:
            blocks = jax.tree.map(lambda x: x.reshape((n // chunk, chunk) + x.shape[1:]), args)
            out = jax.lax.map(lambda a: fn(*a), blocks)
            out = jax.tree.map(lambda x: x.reshape((n,) + x.shape[2:]), out)
        _check_leading(out, n, "shard_batched")
        return out

    @functools.wraps(fn)
    def sharded(*args):
        check_batch(batch_size(args), d, chunk)
        # check_vma=False: scans inside fn start from device-invariant constants, which the checker rejects
        return jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(*args)

    return sharded


def sharded_vmap(fn: Callable, mesh: Mesh | None = None, *, chunk: int | None = None, pad: bool = False) -> Callable:
    """``jax.jit(jax.vmap(fn))`` with the leading axis of every argument and output split over ``mesh``.

    ``fn`` is one run (``train(key)``, ``meta_train(key)``, ``pbt(key)``, ``agent.init``,
    ``lambda s: agent.train_chunk(s, n)``); every positional argument is a pytree
    whose leaves share a leading batch axis ``B`` (close over unbatched values).
    Returns ``f(*args) -> outputs [B, ...]``, jitted with inputs and outputs sharded
    ``[B / n_devices, ...]`` per device (global arrays over all processes when
    ``jax.distributed`` is initialised: see :func:`gather`). ``chunk``: rows per
    ``lax.map`` block on each device (memory). ``B`` not divisible by
    ``n_devices * chunk`` is a ``ValueError`` unless ``pad=True`` (see the module doc).
    Results equal ``jax.vmap(fn)`` up to float rounding and are bitwise equal to
    ``chunked_vmap(fn, B / n_devices)``; pass ``chunk`` to get the same bits on any device count.
    """
    mesh = _default_mesh(mesh)
    d, shard = mesh_size(mesh), batch_sharding(mesh)
    per_device = shard_batched(lambda *a: _map_rows(fn, a, chunk), mesh)

    even = jax.jit(per_device, in_shardings=shard, out_shardings=shard)

    @functools.partial(jax.jit, static_argnums=0)
    def padded(n_out: int, *args):  # pad inside the program; outputs of n_out rows (uneven sharding)
        return _take_rows(per_device(*_pad_rows(args, check_batch(n_out, d, chunk, pad=True))), n_out)

    @functools.wraps(fn)
    def run(*args):
        n = batch_size(args)
        m = check_batch(n, d, chunk, pad)
        if m == n:
            return even(*put_batch(args, mesh))
        return padded(n, *args)

    run.mesh = mesh
    return run


# =========================================================================== one program, sharded state
def population_shardings(tree: Any, mesh: Mesh, size: int) -> Any:
    """Shardings for ``tree``: leaves with leading axis ``size`` split over ``mesh``, the rest replicated.

    For a PBT state ``size = cfg.population`` shards the members ``[P, ...]`` and
    ``last_copy [P]`` and replicates the key and round counter.
    """
    shard, rep = batch_sharding(mesh), replicated(mesh)
    check_batch(size, mesh_size(mesh))
    return jax.tree.map(lambda x: shard if np.ndim(x) and np.shape(x)[0] == size else rep, tree)


def shard_carry(fn: Callable, shardings: Any) -> Callable:
    """``jax.jit`` of ``fn(state, *rest) -> (state, aux)`` keeping ``state`` laid out as ``shardings``.

    The state is placed (and the returned state constrained) to ``shardings``
    (e.g. :func:`population_shardings`), so XLA partitions the computation on
    the population axis (``vmap`` over members runs ``P / n_devices`` members per
    device; exchanges such as PBT's exploit step become collectives). Use it for
    ``pbt.round_step`` or ``lambda s: pbt.run(s, n)``.
    """

    @functools.wraps(fn)
    def step(state, *rest):
        state = jax.lax.with_sharding_constraint(state, shardings)
        new, aux = fn(state, *rest)
        return jax.lax.with_sharding_constraint(new, shardings), aux

    jitted = jax.jit(step)

    def run(state, *rest):
        return jitted(_put(state, shardings), *rest)

    return run


# =========================================================================== placing and gathering data
def _put(tree: Any, shardings: Any) -> Any:
    """``device_put`` that also works across processes: every process passes the same global value."""
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)

    def one(x, s):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x if x.sharding == s else jax.device_put(x, s)
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(x))
            arr = jax.make_array_from_callback(data.shape, s, lambda idx: data[idx])
            return jax.random.wrap_key_data(arr, impl=jax.random.key_impl(x))
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, s, lambda idx: x[idx])

    if isinstance(shardings, NamedSharding):
        return jax.tree.map(lambda x: one(x, shardings), tree)
    return jax.tree.map(one, tree, shardings)


def put_batch(tree: Any, mesh: Mesh) -> Any:
    """Place ``tree`` (leaves ``[B, ...]``, the same global value in every process) split over ``mesh``."""
    return _put(tree, batch_sharding(mesh))


def put_replicated(tree: Any, mesh: Mesh) -> Any:
    """Place ``tree`` (the same value in every process) whole on every device of ``mesh``."""
    return _put(tree, replicated(mesh))


def put_process_local(tree: Any, mesh: Mesh) -> Any:
    """Assemble global ``[B, ...]`` arrays from each process's own rows ``[B / n_processes, ...]``
    (``jax.make_array_from_process_local_data``; process ``i`` holds rows ``i * B / n ...``)."""
    s = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(s, np.asarray(x)), tree)


def gather(tree: Any) -> Any:
    """Outputs as numpy arrays holding the full batch, on every process (an all-gather across hosts)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


# =========================================================================== processes and caching
def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs: Any,
) -> dict[str, int]:
    """``jax.distributed.initialize`` (before any other JAX call), once; returns process and device counts.

    Launch one process per host (or per GPU) with the same script::

        # host 0 (coordinator at 10.0.0.1) and host 1:
        python train.py --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0
        python train.py --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 1

    On SLURM, Open MPI, Kubernetes (JobSet) and Cloud TPU all arguments may be
    omitted (auto-detected). Extra keyword arguments (``local_device_ids``,
    ``initialization_timeout``, ...) pass through. CPU-only multi-process runs
    also need ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``.
    Afterwards ``jax.devices()`` lists every process's devices and
    :func:`batch_mesh` spans them all.
    """
    if not jax.distributed.is_initialized():
        jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
    return {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "local_devices": jax.local_device_count(),
        "devices": jax.device_count(),
    }


def enable_compilation_cache(
    path: str | os.PathLike = "~/.cache/jaxrl/xla",
    min_compile_time_s: float = 1.0,
    min_entry_size_bytes: int = 0,
) -> Path:
    """Persist compiled XLA programs in ``path`` so later processes skip compiling the same program.

    Sets ``jax_compilation_cache_dir`` and caches every program that took at least
    ``min_compile_time_s`` to compile (``jax_persistent_cache_min_compile_time_secs``)
    and is at least ``min_entry_size_bytes`` big. A cache hit needs the same
    program, shapes, device count/kind, flags and jax/jaxlib versions; an
    unchanged ``jaxrl train`` relaunch typically drops from tens of seconds of
    compilation to a few seconds of loading. Equivalent environment variables:
    ``JAX_COMPILATION_CACHE_DIR``, ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``.
    The directory is shared safely between processes and may live on a network
    file system (one per cluster). Returns the absolute cache path.
    """
    p = Path(path).expanduser().resolve()
    p.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(p))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", int(min_entry_size_bytes))
    try:  # a process that compiled before this call has already decided "no cache": let it decide again
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover - private API moved
        pass
    return p
