"""The ``conformance-results`` directive: the Autobahn results, from ``RESULTS.md``.

``conformance/gate.py`` writes ``conformance/RESULTS.md`` after each full run of
``bash conformance/run.sh``, and keeps in it, for each role, the gate's summary as JSON
in an HTML comment::

    <!-- conformance-summary server {"passed": true, "cases": 517, "sections": ...} -->

The directive reads those summaries (never the Markdown around them) and renders, for
each role, the verdict, the run's facts and a table of outcomes per section, so the
documentation always shows the results of the last run::

    .. conformance-results:: /../conformance/RESULTS.md

The path is relative to the page, or to the documentation's root when it starts with
``/``. Section names come from the Markdown tables of the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

_SUMMARY = re.compile(r"<!-- conformance-summary (\w+) (\{.*\}) -->")
_SECTION_ROW = re.compile(r"^\| (\d+) ([^|]+?) \|", re.MULTILINE)
_PASSING = ("OK", "INFORMATIONAL")
_ROLES = {
    "server": "rawsock as the server (wstest -m fuzzingclient)",
    "client": "rawsock as the client (wstest -m fuzzingserver)",
}


def read_summaries(text: str) -> dict[str, dict[str, Any]]:
    """The gate's summary of each role kept in ``RESULTS.md``.

    Raises:
        ValueError: the file holds no summary.
    """
    summaries = {role: json.loads(data) for role, data in _SUMMARY.findall(text)}
    if not summaries:
        raise ValueError("no conformance-summary comment found")
    return summaries


def section_names(text: str) -> dict[str, str]:
    """Section number -> name, from the Markdown tables (``| 1 Framing | ...``)."""
    return {number: name.strip() for number, name in _SECTION_ROW.findall(text)}


def _row(cells: Iterable[object]) -> str:
    items = [str(cell) for cell in cells]
    return "   * - " + "\n     - ".join(items)


def role_rst(role: str, summary: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """reStructuredText for one role: verdict, facts, outcomes per section."""
    title = f"{role.capitalize()} role: {_ROLES.get(role, role)}"
    verdict = "PASSED" if summary.get("passed") else "FAILED"
    minutes, seconds = divmod(int(summary.get("wall_seconds", 0)), 60)
    lines = [
        title,
        "-" * len(title),
        "",
        f"- Gate: **{verdict}**",
        f"- Date: {summary.get('date', '?')}",
        f"- Cases: {summary.get('cases', '?')} of {summary.get('expected_cases', '?')} expected",
        f"- wstest: {summary.get('wstest_version', '?')}",
        f"- rawsock: {summary.get('rawsock_version', '?')}",
        f"- Wall time: {minutes} min {seconds} s",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        _row(
            [
                "section",
                "behavior OK",
                "INFORMATIONAL",
                "behaviorClose OK",
                "INFORMATIONAL",
                "other",
            ]
        ),
    ]
    totals = [0, 0, 0, 0, 0]
    sections: Mapping[str, Mapping[str, Mapping[str, int]]] = summary.get("sections", {})
    for number in sorted(sections, key=int):
        outcomes = sections[number]
        behavior = outcomes.get("behavior", {})
        closing = outcomes.get("behaviorClose", {})
        other = sum(n for kind in (behavior, closing) for k, n in kind.items() if k not in _PASSING)
        counts = [
            behavior.get("OK", 0),
            behavior.get("INFORMATIONAL", 0),
            closing.get("OK", 0),
            closing.get("INFORMATIONAL", 0),
            other,
        ]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        lines.append(_row([f"{number} {names.get(number, '')}".strip(), *counts]))
    lines.append(_row(["**all**", *(f"**{n}**" for n in totals)]))
    failing = summary.get("failing") or []
    lines += ["", f"Cases failing the gate: {', '.join(map(str, failing)) or 'none'}.", ""]
    return "\n".join(lines)


class ConformanceResults(SphinxDirective):
    """``.. conformance-results:: PATH``: the results kept in ``RESULTS.md``."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Read the file (a dependency of the page) and render every role in it."""
        relative, absolute = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        text = Path(absolute).read_text(encoding="utf-8")
        summaries = read_summaries(text)
        names = section_names(text)
        order = sorted(
            summaries, key=lambda role: list(_ROLES).index(role) if role in _ROLES else len(_ROLES)
        )
        rst = "\n\n".join(role_rst(role, summaries[role], names) for role in order)
        return self.parse_text_to_nodes(rst, allow_section_headings=True)


def setup(app: Any) -> dict[str, object]:
    """Register the directive."""
    app.add_directive("conformance-results", ConformanceResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
