"""Draw the documentation's benchmark chart and table from the benchmark's results.

    python bench/chart.py            # writes docs/_static/benchmark.png and the table
                                     # of docs/topics/performance.rst
    python bench/chart.py --check    # exits 1 if either is out of date with the results

Reads ``bench/results/latest.json`` (what ``python bench/run.py`` writes) and shows each
library as ratios to the raw Trio TCP echo, the floor, per metric: grouped bars, speed
metrics (higher is better) in one panel, memory and CPU (lower is better) in the other,
with the run's date, rawsock's commit and the machine. The same ratios, formatted as in
``bench/results/latest.md``, replace the table between the two marker comments of the
performance page. The PNG records a digest of the results it was drawn from (a PNG text
chunk), which ``--check`` compares without drawing, so that it needs no matplotlib.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import textwrap
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "latest.json"
CHART = ROOT / "docs" / "_static" / "benchmark.png"
PAGE = ROOT / "docs" / "topics" / "performance.rst"
FLOOR = "trio-tcp"
#: The PNG text chunk holding the digest of the results drawn.
DIGEST_KEY = "rawsock-benchmark-sha256"
TABLE_START = ".. benchmark table: written by bench/chart.py from bench/results/latest.json"
TABLE_END = ".. end of the benchmark table"
#: Bar colours: rawsock stands out, the Trio libraries share a hue, the asyncio ones another.
COLOURS = {
    "rawsock": "#d1495b",
    "websockets-trio": "#6a8caf",
    "trio-websocket": "#a5c0dd",
    "websockets-asyncio": "#8c8c8c",
    "picows": "#c8c8c8",
}
OTHER_COLOUR = "#b0a990"


@dataclass(frozen=True)
class Metric:
    """One row of the benchmark: its key, its label, and which way is better."""

    key: str
    label: str
    higher_is_better: bool


@dataclass(frozen=True)
class Results:
    """What the chart and the table show, taken from the results file."""

    servers: list[str]  # every library but the floor, in the run's order
    descriptions: dict[str, str]
    metrics: list[Metric]
    ratio: dict[str, dict[str, float | None]]
    caption: str
    digest: str


def digest_of(data: dict[str, Any]) -> str:
    """SHA-256 of the results, independent of their file's formatting."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load(path: Path) -> Results:
    """Read the results file written by ``bench/run.py``.

    Raises:
        ValueError: the file lacks the floor or a metric's ratios.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if FLOOR not in data["servers"]:
        raise ValueError(f"{path}: no {FLOOR} server, the floor the ratios are taken to")
    servers = [name for name in data["servers"] if name != FLOOR]
    metrics = [
        Metric(key, spec["label"], bool(spec["higher_is_better"]))
        for key, spec in data["metrics"].items()
    ]
    for name in servers:
        missing = [m.key for m in metrics if m.key not in data["ratio"].get(name, {})]
        if missing:
            raise ValueError(f"{path}: no ratio for {name}: {', '.join(missing)}")
    machine = data["machine"]
    settings = data["settings"]
    caption = (
        f"{data['date']}; rawsock {machine['versions'].get('rawsock')} at "
        f"{machine['rawsock_commit']}; {machine['cpu']}, {machine['cores']} cores, Linux "
        f"{machine['kernel']}, {machine['implementation']} {machine['python']}, trio "
        f"{machine['versions'].get('trio')}. {data['command']}: medians of "
        f"{settings['repeats']} interleaved repeats"
        + ("; one-connection metrics pinned to one core." if data.get("pinned") else ".")
    )
    return Results(
        servers=servers,
        descriptions=dict(data["descriptions"]),
        metrics=metrics,
        ratio=data["ratio"],
        caption=caption,
        digest=digest_of(data),
    )


def legend_label(name: str, description: str) -> str:
    """``websockets-trio (websockets.trio.server)``; a description naming it stands alone."""
    if not description or description == name:
        return name
    return description if description.startswith(f"{name} (") else f"{name} ({description})"


def fmt_ratio(ratio: float | None, higher_is_better: bool) -> str:
    """A ratio as ``bench/results/latest.md`` writes it: ``0.67``, or ``1.9x`` for costs."""
    if ratio is None:
        return "-"
    return f"{ratio:.2f}" if higher_is_better else f"{ratio:.1f}x"


# -- the table ---------------------------------------------------------------------------


def table(results: Results) -> str:
    """The ratios as an reStructuredText list table, between the two marker comments."""
    lines = [
        TABLE_START,
        "",
        ".. list-table:: Ratios to the raw Trio TCP echo (speed: higher is better; memory"
        " and CPU: lower is better)",
        "   :header-rows: 1",
        "",
        "   * - metric",
    ]
    lines += [f"     - {name}" for name in results.servers]
    for metric in results.metrics:
        lines.append(f"   * - {metric.label}")
        for name in results.servers:
            ratio = results.ratio[name][metric.key]
            value = "n/a" if ratio is None else fmt_ratio(ratio, metric.higher_is_better)
            lines.append(f"     - {value}")
    lines += ["", TABLE_END]
    return "\n".join(lines)


def with_table(page: str, results: Results) -> str:
    """The page's text with its benchmark table replaced by the current one.

    Raises:
        ValueError: the page lacks the marker comments.
    """
    start, end = page.find(TABLE_START), page.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{PAGE}: no '{TABLE_START}' ... '{TABLE_END}' section")
    return page[:start] + table(results) + page[end + len(TABLE_END) :]


# -- the chart ---------------------------------------------------------------------------


def png_text(path: Path) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG file (keyword to text)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    chunks: dict[str, str] = {}
    offset = 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"tEXt":
            keyword, _, text = body.partition(b"\0")
            chunks[keyword.decode("latin-1")] = text.decode("latin-1")
        elif kind == b"zTXt":
            keyword, _, rest = body.partition(b"\0")
            chunks[keyword.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        offset += 12 + length
    return chunks


def draw(results: Results, path: Path) -> None:
    """Draw the grouped bar chart into ``path`` (a PNG)."""
    import matplotlib  # noqa: PLC0415  (only drawing needs it, not --check)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    speed = [m for m in results.metrics if m.higher_is_better]
    cost = [m for m in results.metrics if not m.higher_is_better]
    figure, axes = plt.subplots(
        2, 1, figsize=(10, 12.5), gridspec_kw={"height_ratios": [len(speed), len(cost)]}
    )
    panels = [
        (axes[0], speed, "Speed: ratio to the raw Trio TCP echo (higher is better)"),
        (axes[1], cost, "Memory and server CPU: multiple of the raw Trio TCP echo "
                        "(lower is better)"),
    ]  # fmt: skip
    count = len(results.servers)
    height = 0.8 / count
    for axis, metrics, title in panels:
        top = max(
            (results.ratio[name][m.key] or 0.0 for name in results.servers for m in metrics),
            default=1.0,
        )
        for index, name in enumerate(results.servers):
            # rows top to bottom in the run's metric order, servers top to bottom in each
            positions = [len(metrics) - 1 - row + 0.4 - (index + 0.5) * height
                         for row in range(len(metrics))]  # fmt: skip
            values = [results.ratio[name][m.key] or 0.0 for m in metrics]
            bars = axis.barh(
                positions,
                values,
                height=height * 0.9,
                color=COLOURS.get(name, OTHER_COLOUR),
                edgecolor="#333333" if name == "rawsock" else "none",
                linewidth=0.8,
                label=legend_label(name, results.descriptions.get(name, "")),
            )
            labels = [fmt_ratio(results.ratio[name][m.key], m.higher_is_better) for m in metrics]
            axis.bar_label(
                bars,
                labels=labels,
                padding=3,
                fontsize=8 if name == "rawsock" else 7,
                fontweight="bold" if name == "rawsock" else "normal",
            )
        axis.axvline(1.0, color="#222222", linestyle="--", linewidth=1,
                     label="raw Trio TCP echo, the floor (= 1)")  # fmt: skip
        axis.set_yticks(
            range(len(metrics)),
            [textwrap.fill(m.label, 24) for m in reversed(metrics)],
            fontsize=9,
        )
        axis.set_ylim(-0.5, len(metrics) - 0.5)
        axis.set_xlim(0, top * 1.12)
        axis.set_title(title, fontsize=11, loc="left")
        axis.grid(axis="x", color="#e5e5e5")
        axis.set_axisbelow(True)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    # the libraries in the run's order, then the floor's line
    order = sorted(range(len(names)), key=lambda i: names[i].startswith("raw Trio"))
    figure.suptitle(
        "Echo benchmark: rawsock and other Python WebSocket servers against raw Trio TCP",
        fontsize=13,
        y=0.985,
    )
    figure.legend([handles[i] for i in order], [names[i] for i in order], ncol=2,
                  loc="upper center", bbox_to_anchor=(0.5, 0.96), fontsize=9,
                  frameon=False)  # fmt: skip
    figure.text(0.5, 0.008, textwrap.fill(results.caption, 140), ha="center", va="bottom",
                fontsize=7.5, color="#444444")  # fmt: skip
    figure.tight_layout(rect=(0, 0.035, 1, 0.915))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(
        path,
        dpi=110,
        metadata={"Software": None, DIGEST_KEY: results.digest},
    )
    plt.close(figure)


# -- the command -------------------------------------------------------------------------


def check(results: Results, chart: Path, page: Path) -> list[str]:
    """What is out of date with the results (an empty list if nothing)."""
    stale: list[str] = []
    if not chart.exists() or png_text(chart).get(DIGEST_KEY) != results.digest:
        stale.append(f"{chart} was not drawn from the current results")
    text = page.read_text(encoding="utf-8")
    if with_table(text, results) != text:
        stale.append(f"{page}: the benchmark table differs from the current results")
    return stale


def main(argv: list[str] | None = None) -> int:
    """Write the chart and the table, or with ``--check`` tell whether they are current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="default: %(default)s")
    parser.add_argument("--chart", type=Path, default=CHART, help="default: %(default)s")
    parser.add_argument("--page", type=Path, default=PAGE, help="default: %(default)s")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if either is out of date"
    )
    args = parser.parse_args(argv)
    results = load(args.results)
    if args.check:
        stale = check(results, args.chart, args.page)
        for problem in stale:
            print(problem, file=sys.stderr)
        if stale:
            print("regenerate them with: python bench/chart.py", file=sys.stderr)
            return 1
        print(f"{args.chart} and {args.page}'s table match {args.results}")
        return 0
    draw(results, args.chart)
    text = args.page.read_text(encoding="utf-8")
    args.page.write_text(with_table(text, results), encoding="utf-8")
    print(f"wrote {args.chart} and the table of {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
