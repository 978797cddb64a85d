"""bridge.random's arguments: what it refuses, and tensors as seeds (the draws themselves are
checked on every backend by the conformance kit, bridge.testing.conformance.test_random)."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br


def test_random_argument_errors(backend):
    with pytest.raises(br.InvalidArgumentError, match="floating"):
        br.random.normal((2,), dtype="int32")
    with pytest.raises(br.InvalidArgumentError, match="randint"):
        br.random.randint((2,), 5, 5)
    with pytest.raises(br.InvalidArgumentError, match="seed"):
        br.random.uniform((2,), seed=1.5)


def test_seed_tensors(backend):
    a = br.random.normal((4,), seed=br.tensor(11)).numpy()
    np.testing.assert_array_equal(a, br.random.normal((4,), seed=11).numpy())
    with pytest.raises(br.InvalidArgumentError, match="integer"):
        br.random.normal((4,), seed=br.tensor(1.5))
