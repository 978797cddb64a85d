"""The performance page from the benchmark results: markdown tables written into the docs page
between marker comments (the prose around them is kept), and a chart of the ratios to native per
device. Reads the JSON that ``benchmarks/train.py --json`` writes: one file per device, its ``meta``
(the machine, versions, rounds and steps) and its ``results`` (a row per model and contender, with
the statistics of ``benchmarks/rounds.py``).

    python benchmarks/report.py bench-cpu.json [bench-gpu.json] [--docs docs/topics/performance.md]
        [--chart docs/assets/performance-{device}.png]

The page holds ``<!-- results:cpu:begin -->`` and ``<!-- results:cpu:end -->`` (and the same for
``gpu``); everything between them is replaced, so running it twice gives the same page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

Row = dict[str, Any]  # one entry of the results file's "results" list

MODEL_TITLES = {"mlp": "MLP", "cnn": "CNN", "lstm": "LSTM", "transformer": "Transformer"}
COLUMNS = (
    "contender",
    "framework",
    "mode",
    "ms/step min / median",
    "spread %",
    "ratio to native min / median",
    "peak memory MB",
    "memory ratio",
)
MISSING = "–"
VERSIONS = (
    ("Python", "python"),
    ("bridge", "bridge"),
    ("torch", "torch"),
    ("TensorFlow", "tensorflow"),
    ("Keras", "keras"),
)
CHART_SIZE, CHART_DPI = (12.0, 9.0), 100  # inches, dots per inch: the same image size every run
LOG_SCALE_SPAN = 10.0  # ratios spanning more than this (largest / smallest) are drawn on a log scale


def model_title(model: str) -> str:
    return MODEL_TITLES.get(model, model)


def is_baseline(row: Row) -> bool:
    """Whether ``row`` is its framework's native baseline: its contender and mode (and framework,
    where the contender's name leaves it out) are what its ``baseline`` field names."""
    name, mode = row["contender"], row["mode"]
    return row.get("baseline") in (f"{name} {mode}", f"{name} {row['framework']} {mode}")


def three_figures(value: float) -> str:
    """A time or ratio with three significant figures or more: 0.234, 1.23, 12.3, 123."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def format_pair(stats: dict[str, float] | None) -> str:
    """``min / median`` of a statistics dict of the results file."""
    if not stats:
        return MISSING
    return f"{three_figures(stats['min'])} / {three_figures(stats['median'])}"


def format_optional(value: float | None, spec: str) -> str:
    return MISSING if value is None else format(value, spec)


def escape_cell(text: str) -> str:
    """Text that stays in one markdown table cell: no pipes, no line breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table_row(row: Row) -> list[str]:
    """The cells of one contender's row; a failed contender shows its error message."""
    names = [escape_cell(row[key]) for key in ("contender", "framework", "mode")]
    if row.get("error"):
        return [*names, f"failed: {escape_cell(row['error'])}", *[MISSING] * 4]
    time = row["ms_per_step"]
    ratio = "baseline" if is_baseline(row) else format_pair(row.get("ratio"))
    return [
        *names,
        format_pair(time),
        f"{time['spread'] * 100:.0f}",
        ratio,
        format_optional(row.get("peak_memory_mb"), ".0f"),
        format_optional(row.get("memory_ratio"), ".2f"),
    ]


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def models(results: list[Row]) -> list[str]:
    """The models of a results list, in the order they were run."""
    return list(dict.fromkeys(row["model"] for row in results))


def meta_line(meta: dict[str, Any]) -> str:
    """Where and how the results were measured, in one sentence."""
    machine = meta.get("device_name") or meta.get("device", "?")
    if meta.get("cores"):
        machine += f", {meta['cores']} cores"
    versions = ", ".join(f"{name} {meta[key]}" for name, key in VERSIONS if meta.get(key))
    line = f"Measured on {machine} ({versions})"
    if meta.get("date"):
        line += f" on {str(meta['date'])[:10]}"
    line += f": {meta.get('rounds', '?')} interleaved rounds of {meta.get('steps', '?')} steps per contender."
    if meta.get("quick"):
        line += " Quick mode: too few steps for the numbers to mean much."
    if meta.get("note"):
        line += f" Note: {meta['note']}."
    return line


def baselines_line(results: list[Row]) -> str:
    pairs = dict.fromkeys((row["framework"], row["baseline"]) for row in results if row.get("baseline"))
    return "Ratios are to " + "; ".join(f"{baseline} for {fw} rows" for fw, baseline in pairs) + "."


def device_section(data: dict[str, Any], chart: str | None = None) -> str:
    """The markdown between a device's markers: the setup, one table per model, the chart."""
    results = data["results"]
    parts = [meta_line(data["meta"]), baselines_line(results)]
    for model in models(results):
        rows = [table_row(row) for row in results if row["model"] == model]
        parts += [f"### {model_title(model)}", markdown_table(rows)]
    if chart is not None:
        device = data["meta"]["device"].upper()
        parts.append(f"![Ratios to native per model and contender, {device}]({chart})")
    return "\n\n".join(parts)


def markers(device: str) -> tuple[str, str]:
    return f"<!-- results:{device}:begin -->", f"<!-- results:{device}:end -->"


def replace_between(text: str, device: str, content: str) -> str:
    """``text`` with what lies between ``device``'s markers (each on a line of its own, so that
    prose may name them) replaced by ``content``."""
    begin, end = markers(device)
    pattern = re.compile(rf"^{re.escape(begin)}$.*?^{re.escape(end)}$", re.DOTALL | re.MULTILINE)
    if not pattern.search(text):
        raise ValueError(f"the page has no {begin} ... {end} markers")
    return pattern.sub(lambda _: f"{begin}\n\n{content.strip()}\n\n{end}", text, count=1)


def chart_rows(results: list[Row]) -> list[Row]:
    """The rows the chart shows: all but the baselines (they are the line at 1.0)."""
    return [row for row in results if not is_baseline(row)]


def chart_label(row: Row) -> str:
    return f"{row['contender']} ({row['framework']}, {row['mode']})"


def use_log_scale(rows: list[Row]) -> bool:
    ratios = [row["ratio"] for row in rows if row.get("ratio")]
    if not ratios:
        return False
    return max(ratio["max"] for ratio in ratios) / min(ratio["min"] for ratio in ratios) > LOG_SCALE_SPAN


def draw_panel(axis: Any, rows: list[Row], names: list[str], frameworks: list[str]) -> None:
    """One model's panel: a dot at each contender's median ratio with a bar from min to max, in
    its framework's colour, on its line of ``names``; a failed contender says so."""
    from matplotlib.transforms import blended_transform_factory

    for row in rows:
        ratio, line = row.get("ratio"), names.index(chart_label(row))
        if not ratio:
            where = blended_transform_factory(axis.transAxes, axis.transData)
            note = "failed" if row.get("error") else "no ratio"
            axis.text(0.02, line, note, transform=where, color="gray", fontsize=8, va="center")
            continue
        spread = [[ratio["median"] - ratio["min"]], [ratio["max"] - ratio["median"]]]
        color = f"C{frameworks.index(row['framework'])}"
        axis.errorbar(ratio["median"], line, xerr=spread, fmt="o", capsize=3, color=color)
    axis.axvline(1.0, color="gray", linestyle="--", linewidth=1)
    axis.grid(axis="x", alpha=0.3)


def write_chart(data: dict[str, Any], path: Path) -> None:
    """A PNG of the median ratio to native (min-max error bars) per model and contender: one panel
    per model, one line per contender, a dashed line at 1.0 (native), a log scale where the ratios
    span more than ``LOG_SCALE_SPAN``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    results = data["results"]
    rows = chart_rows(results)
    names = list(dict.fromkeys(chart_label(row) for row in rows))
    frameworks = list(dict.fromkeys(row["framework"] for row in rows))
    panels = models(results)
    columns = 2 if len(panels) > 1 else 1
    figure, axes = plt.subplots(
        -(-len(panels) // columns), columns, figsize=CHART_SIZE, sharex=True, sharey=True, squeeze=False
    )
    for axis, model in zip(axes.flat, panels):
        draw_panel(axis, [row for row in rows if row["model"] == model], names, frameworks)
        axis.set_title(model_title(model))
    first = axes.flat[0]
    first.set_yticks(range(len(names)), names)
    first.set_ylim(len(names) - 0.5, -0.5)  # the first contender on top
    if use_log_scale(rows):
        first.set_xscale("log")
        first.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        first.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        first.xaxis.set_minor_formatter(NullFormatter())
    for index, axis in enumerate(axes.flat):
        axis.tick_params(labelsize=8)
        if index >= len(panels):
            axis.set_visible(False)
        elif index + columns >= len(panels):  # the lowest panel of its column
            axis.tick_params(labelbottom=True)
            axis.set_xlabel("time per step / native (median, min-max of the rounds)", fontsize=9)
    handles = [Line2D([], [], marker="o", linestyle="", color=f"C{i}") for i in range(len(frameworks))]
    handles.append(Line2D([], [], color="gray", linestyle="--", linewidth=1))
    figure.legend(handles, [*frameworks, "native"], loc="upper right")
    figure.suptitle(f"Ratio to native, {data['meta']['device'].upper()} (below 1.0 is faster than native)")
    figure.tight_layout(rect=(0, 0, 0.9, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=CHART_DPI)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="results JSON files, one per device")
    parser.add_argument("--docs", type=Path, default=Path("docs/topics/performance.md"))
    parser.add_argument(
        "--chart", default="docs/assets/performance-{device}.png", help="where the charts go ({device})"
    )
    args = parser.parse_args(argv)
    page = args.docs.read_text()
    for path in args.results:
        data = json.loads(path.read_text())
        device = data["meta"]["device"]
        chart = Path(args.chart.format(device=device))
        write_chart(data, chart)
        link = Path(os.path.relpath(chart, args.docs.parent)).as_posix()
        page = replace_between(page, device, device_section(data, link))
        print(f"{path}: {device} tables written, chart in {chart}")
    args.docs.write_text(page)


if __name__ == "__main__":
    main()
