import jax
import jax.numpy as jnp
import numpy as np

from jaxrl import running_stats as rs


def test_running_stats_match_numpy():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) * [1, 10, 0.1] for n in (1, 7, 64, 200)]
    update = jax.jit(rs.update)
    stats = rs.init((3,))
    for b in batches:
        stats = update(stats, jnp.asarray(b, jnp.float32))
    allx = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, allx.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.var, allx.var(0), rtol=1e-4)
    np.testing.assert_allclose(stats.count, len(allx), rtol=1e-6)


def test_running_stats_scalar_shape_and_batched_leading_axes():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)  # [T, B, 4]: leading axes are merged
    stats = rs.update(rs.init((4,)), x)
    np.testing.assert_allclose(stats.mean, x.reshape(-1, 4).mean(0), rtol=1e-4)  # 1e-4 prior count
    s = rs.update(rs.init(), jnp.array([1.0, 3.0]))
    assert s.mean.shape == () and np.isclose(s.mean, 2.0, rtol=1e-4) and np.isclose(s.var, 1.0, rtol=1e-3)


def test_normalize_and_clip():
    stats = rs.RunningMeanStd(jnp.array([1.0, -1.0]), jnp.array([4.0, 0.25]), jnp.float32(10))
    z = rs.normalize(stats, jnp.array([[3.0, -1.5], [101.0, -1.0]]), clip=5.0)
    np.testing.assert_allclose(z, [[1.0, -1.0], [5.0, 0.0]], rtol=1e-6)
