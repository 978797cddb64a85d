"""Random numbers: the same seed gives the same bits on every backend, with sound statistics
(bridge draws them once, in the core, from the backend's integer primitives)."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.testing import assert_parity
from bridge.testing.conformance.strategies import QUICK_JIT
from bridge.testing.references import erf


def _same_bits(fn):
    results = assert_parity(fn, rtol=0, atol=0)
    first = next(iter(results.values()))
    for out in results.values():
        assert out.dtype == first.dtype
        assert out.tobytes() == first.tobytes()
    return first


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_uniform_is_bit_identical_and_in_range(dtype):
    out = _same_bits(lambda: br.random.uniform((64, 50), -2.0, 3.0, dtype=dtype, seed=11))
    assert out.dtype == br.dtypes.as_dtype(dtype).numpy
    values = out.astype(np.float64)
    assert values.min() >= -2.0 and values.max() <= 3.0
    assert abs(values.mean() - 0.5) < 0.1 and abs(values.std() - 5 / np.sqrt(12)) < 0.1


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_normal_is_bit_identical(dtype):
    out = _same_bits(lambda: br.random.normal((100, 100), mean=1.0, stddev=2.0, dtype=dtype, seed=42))
    values = out.astype(np.float64)
    assert abs(values.mean() - 1.0) < 0.1 and abs(values.std() - 2.0) < 0.1


def test_float64_normal_agrees_to_rounding():
    results = assert_parity(
        lambda: br.random.normal((1000,), dtype="float64", seed=5), rtol=1e-13, atol=1e-13
    )
    values = next(iter(results.values()))
    assert values.dtype == np.float64 and abs(values.std() - 1) < 0.1


def test_normal_passes_a_distribution_check(bridge_backend):
    values = np.sort(br.random.normal((20000,), seed=0).numpy().astype(np.float64))
    # Kolmogorov-Smirnov distance to the standard normal CDF; 0.012 is far above its 1% level here.
    cdf = 0.5 * (1 + erf(values / np.sqrt(2)))
    empirical = np.arange(1, len(values) + 1) / len(values)
    assert np.max(np.abs(cdf - empirical)) < 0.012


def test_randint_permutation_bernoulli():
    ints = _same_bits(lambda: br.random.randint((1000,), -3, 7, seed=1))
    assert ints.dtype == np.int64 and ints.min() == -3 and ints.max() == 6
    assert np.all(np.bincount(ints + 3) > 60)
    perm = _same_bits(lambda: br.random.permutation(100, seed=2))
    assert sorted(perm.tolist()) == list(range(100)) and perm.tolist() != list(range(100))
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    shuffled = assert_parity(lambda t: br.random.permutation(t, seed=3), rows)
    first = next(iter(shuffled.values()))
    assert sorted(first[:, 0].tolist()) == rows[:, 0].tolist() and np.all(first[:, 1] == first[:, 0] + 1)
    coins = _same_bits(lambda: br.random.bernoulli(0.3, (10000,), seed=4))
    assert coins.dtype == np.bool_ and abs(coins.mean() - 0.3) < 0.02


def test_seeds_differ_and_global_seed_repeats(bridge_backend):
    a = br.random.uniform((1000,), seed=1).numpy()
    b = br.random.uniform((1000,), seed=2).numpy()
    assert not np.array_equal(a, b) and abs(np.corrcoef(a, b)[0, 1]) < 0.1
    br.random.seed(123)
    first = [br.random.normal((5,)).numpy(), br.random.normal((5,)).numpy()]
    br.random.seed(123)
    second = [br.random.normal((5,)).numpy(), br.random.normal((5,)).numpy()]
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])


def test_seed_generators_give_a_fresh_seed_per_draw_identically_everywhere():
    def draws():
        generator = br.random.SeedGenerator(7)
        return [br.random.uniform((3,), seed=generator) for _ in range(3)]

    results = next(iter(assert_parity(draws, rtol=0, atol=0).values()))
    assert not np.array_equal(results[0], results[1]) and not np.array_equal(results[1], results[2])
    other = assert_parity(lambda: br.random.uniform((3,), seed=br.random.SeedGenerator(8)))
    assert not np.array_equal(next(iter(other.values())), results[0])


@pytest.mark.bridge_requires("jit", "variables")
def test_seed_generators_advance_inside_jit(bridge_backend):
    generator = br.random.SeedGenerator(3)
    draw = br.jit(lambda x: br.ops.dropout(x, 0.5, seed=generator), **QUICK_JIT)
    x = br.ones((64,))
    masks = [draw(x).numpy() for _ in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    eager = br.random.SeedGenerator(3)
    np.testing.assert_array_equal(masks[0], br.ops.dropout(x, 0.5, seed=eager).numpy())
