"""Backend discovery: entry points, autoload switch, in-process registration, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bridge as br
from bridge._plugins import load_backend, pipeline_backend
from bridge.backend import CONTRACT_VERSION, Backend
from bridge.testing.numpy_backend import NumpyBackend


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON document, returned here."""
    environment = {**os.environ, **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.needs("torch", "tensorflow")
@pytest.mark.slow
def test_import_bridge_imports_no_framework_until_a_backend_is_used():
    out = run_python("""
        import json, sys
        import bridge as br
        from bridge._plugins import installed_backends, pipeline_backend
        before = [m for m in ("torch", "tensorflow", "keras") if m in sys.modules]
        names = installed_backends()
        pipelines = [pipeline_backend(x) for x in ([1, 2], (i for i in range(2)), {"x": 1})]
        after_listing = [m for m in ("torch", "tensorflow") if m in sys.modules]
        with br.use_backend("tensorflow"):
            br.ones((2,))
        after_tf = [m for m in ("torch", "tensorflow") if m in sys.modules]
        print(json.dumps([before, after_listing, after_tf, names, pipelines]))
    """)
    before, after_listing, after_tf, names, pipelines = out
    assert before == [] and after_listing == [] and after_tf == ["tensorflow"]
    assert set(names) >= {"torch", "tensorflow"} and pipelines == [None, None, None]


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_backends_reports_versions_as_the_frameworks_do(tmp_path):
    # A framework whose own __version__ is spelled unlike its package metadata, as TensorFlow's
    # pre-releases ("2.21.0-rc0" against the wheel's "2.21.0rc0").
    (tmp_path / "fakefw").mkdir()
    (tmp_path / "fakefw" / "__init__.py").write_text('__version__ = "2.21.0-rc0"\n')
    info = tmp_path / "fakefw-2.21.0rc0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakefw\nVersion: 2.21.0rc0\n")
    (info / "RECORD").write_text("fakefw/__init__.py,,\nfakefw-2.21.0rc0.dist-info/METADATA,,\n")
    (info / "top_level.txt").write_text("fakefw\n")
    out = run_python(
        """
        import json
        import tensorflow as tf
        import torch
        import bridge as br
        from bridge.testing.numpy_backend import NumpyBackend

        class FakeBackend(NumpyBackend):
            name = "fake"

            def version(self):
                import fakefw
                return fakefw.__version__

        br.register_backend("fake", FakeBackend, framework="fakefw")
        print(json.dumps([br.backends(), torch.__version__, tf.__version__]))
        """,
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    )
    versions, torch_version, tf_version = out
    assert versions["fake"] == "2.21.0-rc0"
    assert versions["torch"] == torch_version and versions["tensorflow"] == tf_version


@pytest.mark.needs("torch", "tensorflow")
def test_entry_points_register_the_builtin_plugins():
    from bridge._plugins import plugin_manager

    names = {name for name, _ in plugin_manager().list_name_plugin()}
    assert {"torch", "tensorflow"} <= names


@pytest.mark.slow
def test_autoload_switch_disables_entry_points_but_not_registration():
    out = run_python(
        """
        import json
        import bridge as br
        from bridge.errors import BridgeError
        listed = br.backends()
        try:
            br.get_backend()
            message = ""
        except BridgeError as exc:
            message = str(exc)
        try:
            br.set_backend("torch")
        except br.UnknownBackendError as exc:
            unknown = str(exc)
        from bridge.testing.numpy_backend import NumpyBackend
        br.register_backend("numpy", NumpyBackend, framework="numpy")
        br.set_backend("numpy")
        print(json.dumps([listed, message, unknown, (br.ones((2,)) * 2).tolist(), br.get_backend()]))
    """,
        BRIDGE_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    listed, message, unknown, values, current = out
    assert listed == {}
    assert "no bridge backend is installed" in message
    assert "BRIDGE_DISABLE_PLUGIN_AUTOLOAD" in unknown and "installed: none" in unknown
    assert values == [2.0, 2.0] and current == "numpy"


@pytest.mark.needs("torch", "tensorflow")
def test_unknown_backend_lists_installed_ones():
    with pytest.raises(br.UnknownBackendError) as info:
        br.set_backend("jax")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "'jax'" in message and "torch" in message and "tensorflow" in message
    assert "bridge.backends" in message  # how a third-party backend gets in
    assert "pip install bridge-jax" in message  # the plugins' naming convention


def test_missing_framework_names_the_pip_command(scratch_registry):
    br.register_backend(
        "ghost",
        "ghost_framework_xyz.backend:Ghost",
        framework="ghost_framework_xyz",
        pip_name="ghost-framework",
    )
    assert "ghost" not in br.backends()  # not installed, so not listed
    with pytest.raises(br.FrameworkNotInstalledError, match="pip install ghost-framework") as info:
        br.set_backend("ghost")
    assert isinstance(info.value, ImportError)


def test_registering_twice_or_an_incomplete_backend_fails_clearly(scratch_registry):
    with pytest.raises(br.BridgeError, match="already registered"):
        br.register_backend("numpy", NumpyBackend)

    class Partial(Backend):
        name = "partial"
        contract_version = CONTRACT_VERSION
        exp = NumpyBackend.exp

    br.register_backend("partial", Partial)
    with pytest.raises(br.BridgeError, match="'partial' .* does not implement these Backend methods") as info:
        br.use_backend("partial").__enter__()
    missing = str(info.value).rpartition(": ")[2].split(", ")
    assert {"log", "matmul", "sum", "sort", "find_devices"} <= set(missing) and "exp" not in missing
    assert not {"softmax", "variable", "jit", "devices"} & set(missing)  # optional or provided


@pytest.mark.parametrize(
    ("stated", "advice"), [(CONTRACT_VERSION + 1, "upgrade bridge"), (CONTRACT_VERSION - 1, "upgrade the")]
)
def test_a_backend_built_for_another_contract_is_refused(scratch_registry, stated, advice):
    other = type("OtherContract", (NumpyBackend,), {"name": "other", "contract_version": stated})
    br.register_backend("other", other)
    with pytest.raises(br.IncompatibleBackendError) as info:
        br.set_backend("other")
    assert isinstance(info.value, br.BridgeError) and isinstance(info.value, ImportError)
    message = str(info.value)
    assert f"'other' (OtherContract) implements contract {stated}" in message
    assert f"this bridge implements Backend contract {CONTRACT_VERSION}" in message and advice in message


def test_a_backend_stating_no_contract_is_refused(scratch_registry):
    class Unversioned(Backend):
        name = "unversioned"

    br.register_backend("unversioned", Unversioned)
    with pytest.raises(br.IncompatibleBackendError, match="'unversioned' .*states no contract_version"):
        br.set_backend("unversioned")


@pytest.mark.needs("torch", "tensorflow")
def test_the_plugins_state_this_bridges_contract():
    for name in ("torch", "tensorflow"):
        assert type(load_backend(name)).contract_version == CONTRACT_VERSION


@pytest.mark.needs("torch", "tensorflow")
def test_features_and_fast_paths_are_derived_from_what_a_backend_overrides():
    assert NumpyBackend.features == {"variables"} and NumpyBackend.fast_paths == frozenset()
    for name in ("torch", "tensorflow"):
        backend = load_backend(name)
        assert backend.features == {"variables", "autodiff", "jit", "distribute"}
        fused = {"dot_product_attention", "recurrent", "adam_update", "all_finite"}
        fused = fused if name == "torch" else set()
        assert backend.fast_paths == {
            *("softmax", "log_softmax", "sparse_cross_entropy", "split", "unstack"),
            *fused,
        }

    class WithFastSoftmax(NumpyBackend):
        def softmax(self, x, axis):
            return np.full_like(x, 7.0)

        def stop_gradient(self, x):  # one method of "autodiff" is not the feature
            return x

    assert WithFastSoftmax.fast_paths == {"softmax"} and WithFastSoftmax.features == {"variables"}
    with pytest.raises(br.UnsupportedFeatureError, match="'numpy' does not support autodiff"):
        WithFastSoftmax().tape(False, True)
    with pytest.raises(br.UnsupportedFeatureError, match="'numpy' has no log_softmax fast path"):
        WithFastSoftmax().log_softmax(np.zeros(2), 0)


def test_the_core_uses_a_fast_path_only_where_a_backend_has_one(scratch_registry):
    class WithFastSoftmax(NumpyBackend):
        name = "fast-softmax"

        def softmax(self, x, axis):
            return np.full_like(x, 7.0)

    br.register_backend("fast-softmax", WithFastSoftmax)
    with br.use_backend("fast-softmax"):
        assert br.ops.softmax(br.tensor([0.0, 0.0])).tolist() == [7.0, 7.0]
        np.testing.assert_allclose(br.ops.log_softmax(br.tensor([0.0, 0.0])).numpy(), np.log([0.5, 0.5]))
    with br.use_backend("numpy"):
        np.testing.assert_allclose(br.ops.softmax(br.tensor([0.0, 0.0])).numpy(), [0.5, 0.5])


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        (lambda t: br.ops.unstack(t, axis=1), lambda a: list(np.moveaxis(a, 1, 0))),
        (lambda t: br.ops.split(t, [1, 3], axis=2), lambda a: np.split(a, [1, 3], axis=2)),
        (lambda t: br.ops.split(t, [3, 1], axis=2), lambda a: np.split(a, [3, 1], axis=2)),
    ],
)
def test_split_and_unstack_without_fast_paths_slice(ours, reference):
    """The reference backend has neither fast path: the core's slices give NumPy's pieces."""
    a = np.arange(24.0).reshape(2, 3, 4)
    with br.use_backend("numpy"):
        got = ours(br.tensor(a))
    expected = reference(a)
    assert len(got) == len(expected)
    for piece, want in zip(got, expected):
        np.testing.assert_array_equal(piece.numpy(), want)


def test_devices_are_found_once_and_the_default_is_the_first_gpu():
    class TwoGpus(NumpyBackend):
        asked = 0

        def find_devices(self):
            TwoGpus.asked += 1
            return ["cpu", "gpu:0", "gpu:1"]

    backend = TwoGpus()
    assert backend.devices() == ["cpu", "gpu:0", "gpu:1"] == backend.devices()
    assert backend.default_device() == "gpu:0" and TwoGpus.asked == 1
    assert NumpyBackend().default_device() == "cpu"


def test_matmul_primitive_sees_only_matrices(scratch_registry):
    class MatricesOnly(NumpyBackend):
        name = "matrices-only"

        def matmul(self, a, b):
            assert a.ndim >= 2 and b.ndim >= 2, (a.shape, b.shape)
            return np.matmul(a, b)

    br.register_backend("matrices-only", MatricesOnly)
    rng = np.random.default_rng(0)
    v, w, m, batch = (
        rng.normal(size=3),
        rng.normal(size=3),
        rng.normal(size=(3, 2)),
        rng.normal(size=(4, 2, 3)),
    )
    with br.use_backend("matrices-only"):
        for a, b in [(v, w), (v, m), (m.T, v), (batch, v), (v, batch.transpose(0, 2, 1)), (m.T, m)]:
            out = br.ops.matmul(br.tensor(a), br.tensor(b))
            assert out.shape == np.matmul(a, b).shape
            np.testing.assert_allclose(out.numpy(), np.matmul(a, b), rtol=1e-12)


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_default_backend_is_the_installed_one_of_highest_priority():
    out = run_python(
        """
        import json
        import bridge as br
        from bridge._plugins import installed_backends
        from bridge.testing.numpy_backend import NumpyBackend
        builtin = installed_backends()
        br.register_backend("numpy", NumpyBackend, framework="numpy", priority=100)
        print(json.dumps([builtin, installed_backends()[0], br.get_backend()]))
        """
    )
    builtin, first, default = out
    assert builtin[:2] == ["torch", "tensorflow"]
    assert first == default == "numpy"


@pytest.mark.needs("torch", "tensorflow")
def test_pipelines_and_jit_preference_are_asked_of_the_backends():
    import tensorflow as tf
    import torch

    loader = torch.utils.data.DataLoader(torch.arange(4.0), batch_size=2)
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(4.0)).batch(2)
    assert pipeline_backend(loader) == "torch" and pipeline_backend(dataset) == "tensorflow"
    assert pipeline_backend(torch.arange(4.0)) is None and pipeline_backend(np.arange(4.0)) is None
    assert load_backend("tensorflow").prefers_jit and not load_backend("torch").prefers_jit
    assert not NumpyBackend.prefers_jit


def test_a_registered_backend_instance_is_used_as_is(scratch_registry):
    instance = NumpyBackend()
    instance.name = "numpy-instance"
    br.register_backend("numpy-instance", instance)
    with br.use_backend("numpy-instance"):
        x = br.arange(4)
        assert x._backend is instance and x.backend == "numpy-instance"
    assert isinstance(instance, Backend)


def test_scratch_registrations_do_not_leak():
    assert {"partial", "ghost", "numpy-instance"}.isdisjoint(br.backends())


@pytest.mark.needs("torch", "tensorflow")
def test_the_numpy_reference_backend_runs_the_op_suite():
    from bridge.testing import parity_backends

    assert {"numpy", "torch", "tensorflow"} <= set(parity_backends())


class _LaterNative:
    """A tensor type no backend owns until one is registered for this module."""


def test_a_backend_registered_later_owns_the_types_seen_before(scratch_registry):
    from bridge._plugins import native_backend_name

    assert native_backend_name(_LaterNative()) is None  # looked up, and remembered, before
    owner = type("LaterOwner", (NumpyBackend,), {"is_native": lambda self, x: isinstance(x, _LaterNative)})
    br.register_backend("later", owner, native_modules=(_LaterNative.__module__.partition(".")[0],))
    assert native_backend_name(_LaterNative()) == "later"
