"""benchmarks/report.py, the performance page's generator: its tables on a small hand-written
results file, the marker replacement in the page, and the chart. It reads JSON only: no framework."""

from __future__ import annotations

import importlib.util
import json
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_report() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_report()


def stats(low: float, median: float, high: float) -> dict[str, object]:
    return {"min": low, "median": median, "max": high, "spread": (high - low) / median, "rounds": [median]}


def row(model: str, contender: str, framework: str, mode: str, **fields: object) -> dict[str, object]:
    baseline = "native torch eager" if framework == "torch" else "native tensorflow tf.function"
    entry = {"model": model, "contender": contender, "framework": framework, "mode": mode}
    entry |= {"baseline": baseline, "peak_memory_mb": None, "memory_ratio": None, "error": None}
    return entry | fields


RESULTS = {
    "meta": {
        "device": "cpu",
        "device_name": "Test CPU",
        "torch": "2.13.0+cpu",
        "tensorflow": "2.21.0",
        "python": "3.11.9",
        "cores": 2,
        "rounds": 3,
        "steps": 20,
        "date": "2026-11-27T21:00:00Z",
        "quick": False,
    },
    "results": [
        row(
            "cnn",
            "native torch",
            "torch",
            "eager",
            ms_per_step=stats(42.0, 45.5, 50.0),
            ratio=stats(1.0, 1.0, 1.0),
            peak_memory_mb=350.2,
            memory_ratio=1.0,
        ),
        row(
            "cnn",
            "bridge fit",
            "torch",
            "eager",
            ms_per_step=stats(101.0, 140.0, 160.0),
            ratio=stats(0.92, 3.08, 12.5),
            peak_memory_mb=340.0,
            memory_ratio=0.971,
        ),
        row(
            "mlp",
            "bridge loop",
            "tensorflow",
            "jit",
            ms_per_step=stats(0.234, 1.2345, 1.5),
            ratio=stats(1.004, 1.05, 1.1),
        ),
        row(
            "mlp", "bridge fit", "torch", "jit", ms_per_step=None, ratio=None, error="Recompile | limit\nhit"
        ),
    ],
}


def test_table_rows_are_the_numbers_rounded_and_a_failure_its_message():
    rows = [report.table_row(entry) for entry in RESULTS["results"]]
    assert rows == [
        ["native torch", "torch", "eager", "42.0 / 45.5", "18", "baseline", "350", "1.00"],
        ["bridge fit", "torch", "eager", "101 / 140", "42", "0.92 / 3.08", "340", "0.97"],
        ["bridge loop", "tensorflow", "jit", "0.23 / 1.23", "103", "1.00 / 1.05", "–", "–"],
        ["bridge fit", "torch", "jit", "failed: Recompile \\| limit hit", "–", "–", "–", "–"],
    ]


def test_a_baseline_is_the_row_its_baseline_field_names():
    assert report.is_baseline(row("mlp", "native tensorflow", "tensorflow", "tf.function"))
    assert report.is_baseline(row("mlp", "native", "tensorflow", "tf.function"))  # the name without framework
    assert not report.is_baseline(row("mlp", "native tensorflow", "tensorflow", "xla"))


def test_a_model_table_is_markdown_with_the_columns_of_the_page():
    table = report.markdown_table([["native", "torch", "eager", "1.20 / 1.30", "23", "baseline", "–", "–"]])
    assert table.splitlines() == [
        "| contender | framework | mode | ms/step min / median | spread % | ratio to native min / median "
        "| peak memory MB | memory ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| native | torch | eager | 1.20 / 1.30 | 23 | baseline | – | – |",
    ]


def test_the_section_says_where_it_was_measured_and_has_a_table_per_model_in_run_order():
    section = report.device_section(RESULTS, "../assets/performance-cpu.png")
    assert section.startswith(
        "Measured on Test CPU, 2 cores (Python 3.11.9, torch 2.13.0+cpu, TensorFlow 2.21.0) on 2026-11-27: "
        "3 interleaved rounds of 20 steps per contender.\n\n"
        "Ratios are to native torch eager for torch rows; native tensorflow tf.function for tensorflow rows."
    )
    assert section.index("### CNN") < section.index("### MLP")
    assert section.count("| contender |") == 2
    assert section.endswith("![Ratios to native per model and contender, CPU](../assets/performance-cpu.png)")
    noted = report.meta_line({**RESULTS["meta"], "quick": True, "note": "partial: transformer not finished"})
    assert noted.endswith(
        "Quick mode: too few steps for the numbers to mean much. Note: partial: transformer not finished."
    )


PAGE = """# Performance

Prose before, naming the markers: `<!-- results:cpu:begin -->` and `<!-- results:cpu:end -->`.

<!-- results:cpu:begin -->
run the harness to fill this
<!-- results:cpu:end -->

Prose between.

<!-- results:gpu:begin -->
No GPU run is recorded yet.
<!-- results:gpu:end -->

Prose after.
"""


def test_replacing_between_the_markers_keeps_the_prose_and_the_other_device():
    page = report.replace_between(PAGE, "cpu", "| new | table |\n")
    assert page == PAGE.replace("run the harness to fill this", "\n| new | table |\n")
    assert report.replace_between(page, "cpu", "| new | table |") == page  # idempotent
    with pytest.raises(ValueError, match="results:tpu:begin"):
        report.replace_between(PAGE, "tpu", "x")


def test_the_docs_page_has_the_markers_of_both_devices_once_and_no_section_twice():
    page = (ROOT / "docs" / "topics" / "performance.md").read_text()
    lines = page.splitlines()
    for device in ("cpu", "gpu"):
        begin, end = report.markers(device)
        assert lines.count(begin) == 1 and lines.count(end) == 1  # alone on their lines, once
        assert lines.index(begin) < lines.index(end)
    headings = [line for line in lines if line.startswith("#")]
    assert len(headings) == len(set(headings)), "a section appears twice"


def test_log_scale_only_when_the_ratios_span_more_than_ten_times():
    assert report.use_log_scale(report.chart_rows(RESULTS["results"]))  # 0.92 to 12.5
    assert not report.use_log_scale(report.chart_rows(RESULTS["results"][2:]))  # 1.004 to 1.1, a failure
    assert [entry["contender"] for entry in report.chart_rows(RESULTS["results"])] == [
        "bridge fit",
        "bridge loop",
        "bridge fit",
    ]  # the baseline is the line at 1.0


def test_main_writes_the_tables_into_the_page_and_a_png_chart_of_the_fixed_size(tmp_path: Path):
    results, page, charts = tmp_path / "bench-cpu.json", tmp_path / "docs" / "perf.md", tmp_path / "assets"
    results.write_text(json.dumps(RESULTS))
    page.parent.mkdir()
    page.write_text(PAGE)
    report.main([str(results), "--docs", str(page), "--chart", str(charts / "performance-{device}.png")])
    text = page.read_text()
    assert "### MLP" in text and "![Ratios to native" in text and "(../assets/performance-cpu.png)" in text
    assert text.startswith(PAGE[: PAGE.index("run the harness")] + "\nMeasured on")
    assert "No GPU run is recorded yet." in text and text.endswith("Prose after.\n")
    png = (charts / "performance-cpu.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 0
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the IHDR chunk
    assert (width, height) == tuple(round(inches * report.CHART_DPI) for inches in report.CHART_SIZE)
