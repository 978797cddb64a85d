"""Facts that docs/guides/writing-a-backend.md relies on: registering a backend in-process and
removing it again (``br.unregister_backend``)."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.testing.numpy_backend import NumpyBackend


class _Mine(NumpyBackend):
    name = "docs-facts-mine"


def test_unregister_backend_forgets_a_registered_backend(scratch_registry: None) -> None:
    br.register_backend("docs-facts-mine", _Mine, framework="numpy")
    with br.use_backend("docs-facts-mine"):
        assert isinstance(br.ones((2,)).native, np.ndarray)
    br.unregister_backend("docs-facts-mine")
    with pytest.raises(br.UnknownBackendError):
        br.use_backend("docs-facts-mine").__enter__()
    br.register_backend("docs-facts-mine", _Mine, framework="numpy")  # the name is free again
    with br.use_backend("docs-facts-mine"):
        assert br.get_backend() == "docs-facts-mine"
    br.unregister_backend("docs-facts-mine")


def test_unregister_backend_leaves_installed_plugins_alone() -> None:
    plugin = next(name for name in ("torch", "tensorflow") if name in br._plugins.backend_infos())
    for name in (plugin, "no-such-backend"):
        with pytest.raises(br.UnknownBackendError, match="register_backend"):
            br.unregister_backend(name)
    assert plugin in br._plugins.backend_infos()


def test_a_backend_class_registered_under_another_name_takes_that_name(scratch_registry: None) -> None:
    # NumpyBackend says name = "numpy"; layers find a tensor's backend again by its name.
    br.register_backend("docs-facts-renamed", NumpyBackend, framework="numpy")
    with br.use_backend("docs-facts-renamed"):
        x = br.ones((2, 4))
        assert x.backend == "docs-facts-renamed"
        assert br.nn.Dense(3)(x).shape == (2, 3)
    assert NumpyBackend.name == "numpy"  # the class is left as it was


def test_a_backend_instance_registered_under_another_name_is_refused(scratch_registry: None) -> None:
    # Renaming it would rename every tensor of the backend it already serves.
    torch_like = NumpyBackend()
    br.register_backend("docs-facts-instance", torch_like, framework="numpy")
    with pytest.raises(br.BridgeError, match="register its class instead"):
        br.use_backend("docs-facts-instance").__enter__()
    assert torch_like.name == "numpy"
