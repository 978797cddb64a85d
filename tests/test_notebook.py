"""The course's lab as a notebook (examples/lab.ipynb): it runs from top to bottom in a Jupyter
kernel, its table shows the same accuracies on both backends, and its plot cell draws a plot.
The copy in the repository keeps its outputs, so that a reader on GitHub sees the table and the
plot: a quick test checks they are there."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "lab.ipynb"
#: A row of the side-by-side table: problem, network, then one accuracy per backend.
ROW = re.compile(r"^(iris|digits)\s+(single-layer|multi-layer)((?:\s+\d\.\d{4})+)\s*$")


def code_cells(notebook: NotebookNode) -> list[NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(cell: NotebookNode) -> str:
    return "".join(output.text for output in cell.outputs if output.output_type == "stream")


def accuracy_rows(notebook: NotebookNode) -> list[list[float]]:
    """The accuracies of each row of the side-by-side table, one per backend."""
    lines = "\n".join(printed(cell) for cell in code_cells(notebook)).splitlines()
    matches = [ROW.match(line) for line in lines]
    return [[float(a) for a in match.group(3).split()] for match in matches if match]


def png_count(notebook: NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs
    )


def errors(notebook: NotebookNode) -> list[str]:
    return [
        f"{output.ename}: {output.evalue}"
        for cell in code_cells(notebook)
        for output in cell.outputs
        if output.output_type == "error"
    ]


def python_kernel(folder: Path) -> AsyncKernelManager:
    """A manager for a "python3" kernel on this test's own Python (``sys.executable``), whatever
    kernelspecs the user's or the system's Jupyter folders hold."""
    write_kernel_spec(folder / "python3")
    specs = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)
    manager = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
    assert manager.kernel_spec is not None and manager.kernel_spec.argv[0] == sys.executable
    return manager


def test_the_committed_notebook_carries_its_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    cells = code_cells(notebook)
    # saved after one run from top to bottom: every cell ran, in order, without an error
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    assert errors(notebook) == []
    assert png_count(notebook) >= 1, "the overfitting plot is missing"
    rows = accuracy_rows(notebook)
    assert len(rows) == 4 and all(len(row) == 2 and row[0] == row[1] for row in rows), rows
    assert NOTEBOOK.stat().st_size < 300_000


@pytest.mark.slow
@pytest.mark.needs("torch", "tensorflow")
def test_the_notebook_runs_and_both_backends_agree(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in code_cells(notebook):
        cell.outputs, cell.execution_count = [], None
    client = NotebookClient(
        notebook,
        km=python_kernel(tmp_path / "kernels"),
        timeout=600,  # a cell's limit, in seconds
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
    )
    # raises CellExecutionError, naming the cell with its traceback; shuts the kernel down after
    client.execute(cleanup_kc=True)
    assert errors(notebook) == []
    rows = accuracy_rows(notebook)
    assert len(rows) == 4, rows
    for torch_accuracy, tensorflow_accuracy in rows:
        assert torch_accuracy == tensorflow_accuracy and torch_accuracy >= 0.75, rows
    assert png_count(notebook) == 1
