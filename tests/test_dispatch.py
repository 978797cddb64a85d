"""Choosing the backend: set_backend, use_backend, BRIDGE_BACKEND, threads, tasks."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

import bridge as br

from .test_plugins import run_python


@pytest.mark.slow
@pytest.mark.needs("torch")
def test_default_is_torch_when_installed():
    out = run_python("import json, bridge as br; print(json.dumps(br.get_backend()))")
    assert out == "torch"


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_environment_variable_chooses_the_backend():
    out = run_python(
        "import json, bridge as br; print(json.dumps([br.get_backend(), br.ones((1,)).backend]))",
        BRIDGE_BACKEND="tensorflow",
    )
    assert out == ["tensorflow", "tensorflow"]


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_set_get_and_use_backend():
    out = run_python("""
        import json, bridge as br
        br.set_backend("tensorflow")
        first = br.get_backend()
        with br.use_backend("torch") as name:
            inner = [name, br.get_backend(), br.zeros((1,)).backend]
        print(json.dumps([first, inner, br.get_backend()]))
    """)
    assert out == ["tensorflow", ["torch", "torch", "torch"], "tensorflow"]


@pytest.mark.needs("torch", "tensorflow")
def test_tensors_keep_their_backend_whatever_is_current():
    with br.use_backend("tensorflow"):
        x = br.tensor([1.0, 2.0])
    with br.use_backend("torch"):
        y = x * 2
        assert y.backend == "tensorflow"
        with pytest.raises(br.BackendMismatchError, match=r"tensorflow and torch.*bridge.convert") as info:
            x + br.tensor([1.0, 1.0])
        assert isinstance(info.value, TypeError)


@pytest.mark.needs("torch", "tensorflow")
def test_threads_do_not_disturb_each_other():
    barrier = threading.Barrier(2)
    seen: dict[str, list] = {}

    def work(name: str) -> None:
        with br.use_backend(name):
            barrier.wait()  # both threads are now inside their own use_backend
            values = []
            for _ in range(20):
                values.append((br.get_backend(), (br.ones((2,)) + 1).backend))
            barrier.wait()
            seen[name] = values

    threads = [threading.Thread(target=work, args=(n,)) for n in ("torch", "tensorflow")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["torch"] == [("torch", "torch")] * 20
    assert seen["tensorflow"] == [("tensorflow", "tensorflow")] * 20


@pytest.mark.needs("torch", "tensorflow")
def test_asyncio_tasks_do_not_disturb_each_other():
    async def work(name: str) -> list[str]:
        with br.use_backend(name):
            out = []
            for _ in range(5):
                await asyncio.sleep(0)
                out.append(br.get_backend())
            return out

    async def main():
        return await asyncio.gather(work("torch"), work("tensorflow"))

    torch_seen, tf_seen = asyncio.run(main())
    assert torch_seen == ["torch"] * 5 and tf_seen == ["tensorflow"] * 5


@pytest.mark.needs("torch", "tensorflow")
def test_same_program_same_numbers_on_both_backends():
    def program():
        x = br.tensor([[1.0, 2.0], [3.0, 4.0]])
        return br.ops.softmax(x @ x.T / 2 + 1, axis=-1).numpy()

    with br.use_backend("torch"):
        a = program()
    with br.use_backend("tensorflow"):
        b = program()
    np.testing.assert_allclose(a, b, rtol=1e-6)
