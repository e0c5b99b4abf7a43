"""Judge one Autobahn test suite run and, optionally, record it in RESULTS.md.

wstest writes ``OUTDIR/index.json`` as ``{agent: {case_id: {"behavior": ...,
"behaviorClose": ..., "duration": ..., "reportfile": ...}}}``. This script prints the
counts of each outcome per top-level section (1 to 13), lists every case whose outcome is
not OK or INFORMATIONAL, and exits with status 0 only when every case's ``behavior`` and
``behaviorClose`` are OK or INFORMATIONAL and the number of cases is the expected one.

``--allow-unimplemented 12,13`` also accepts UNIMPLEMENTED in the given sections (12 and 13
are the permessage-deflate cases); the output then says so.

Exit status: 0 gate passed, 1 gate failed, 2 the results could not be read.

Examples::

    python conformance/gate.py conformance/reports/server --role server
    python conformance/gate.py conformance/reports/client --role client \\
        --allow-unimplemented 12,13 --results-md conformance/RESULTS.md --wall-seconds 612
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

#: Number of cases in a full run of autobahntestsuite 25.10.1.
FULL_RUN_CASES = 517

OK = "OK"
INFORMATIONAL = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"
PASSING = frozenset({OK, INFORMATIONAL})

#: Column order of the tables; outcomes not listed here are appended in sorted order.
OUTCOME_ORDER = (
    OK,
    INFORMATIONAL,
    "NON-STRICT",
    UNIMPLEMENTED,
    "WRONG CODE",
    "FAILED BY CLIENT",
    "UNCLEAN",
    "FAILED",
)

SECTION_TITLES: Mapping[int, str] = {
    1: "Framing",
    2: "Pings/Pongs",
    3: "Reserved bits",
    4: "Opcodes",
    5: "Fragmentation",
    6: "UTF-8 handling",
    7: "Close handling",
    8: "Misc",
    9: "Limits/performance",
    10: "Misc",
    11: "Misc",
    12: "Compression (payloads)",
    13: "Compression (parameters)",
}
SECTIONS = range(1, 14)

ROLES: Mapping[str, str] = {
    "server": "rawsock as the server (wstest -m fuzzingclient)",
    "client": "rawsock as the client (wstest -m fuzzingserver)",
}

SUMMARY_MARK = "conformance-summary"
SUMMARY_RE = re.compile(r"<!-- " + SUMMARY_MARK + r" (\w+) (\{.*\}) -->")


class GateError(Exception):
    """The results could not be read or the arguments make no sense."""


@dataclass(frozen=True)
class Case:
    """The outcome of one test case."""

    case_id: str
    behavior: str
    behavior_close: str
    duration_ms: int | None
    report_file: str | None

    @property
    def key(self) -> tuple[int, ...]:
        return case_key(self.case_id)

    @property
    def section(self) -> int:
        return self.key[0]

    @property
    def outcomes(self) -> tuple[str, str]:
        return (self.behavior, self.behavior_close)


@dataclass(frozen=True)
class Verdict:
    """What the gate decided about a run."""

    cases: Sequence[Case]
    failing: Sequence[Case]
    allowed: Sequence[Case]
    allowed_sections: frozenset[int]
    expected_cases: int | None

    @property
    def count_ok(self) -> bool:
        if not self.cases:
            return False
        return self.expected_cases is None or len(self.cases) == self.expected_cases

    @property
    def passed(self) -> bool:
        return self.count_ok and not self.failing

    def reasons(self) -> list[str]:
        reasons: list[str] = []
        if not self.cases:
            reasons.append("no cases in the results")
        elif not self.count_ok:
            reasons.append(f"{plural(len(self.cases), 'case')}, expected {self.expected_cases}")
        if self.failing:
            reasons.append(f"{plural(len(self.failing), 'case')} not OK/INFORMATIONAL")
        return reasons


# ----------------------------------------------------------------------------- reading


def case_key(case_id: str) -> tuple[int, ...]:
    """``"12.1.10"`` -> ``(12, 1, 10)``, so that cases sort the way the suite numbers them."""
    try:
        return tuple(int(part) for part in case_id.split("."))
    except ValueError:
        raise GateError(f"unexpected case id {case_id!r}") from None


def load_cases(outdir: Path, agent: str | None) -> tuple[str, list[Case]]:
    """Read ``outdir/index.json`` and return the agent's name and its cases, in order."""
    index_path = outdir / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"{index_path} not found: the suite did not finish") from None
    except (OSError, ValueError) as exc:
        raise GateError(f"cannot read {index_path}: {exc}") from None
    if not isinstance(index, dict) or not index:
        raise GateError(f"{index_path} holds no agent")
    if agent is None:
        if len(index) != 1:
            names = ", ".join(sorted(index))
            raise GateError(f"{index_path} holds several agents ({names}); pick one with --agent")
        agent = next(iter(index))
    if agent not in index:
        names = ", ".join(sorted(index))
        raise GateError(f"agent {agent!r} not in {index_path} (found: {names})")
    entries = index[agent]
    if not isinstance(entries, dict):
        raise GateError(f"{index_path}: the entry of agent {agent!r} is not an object")
    cases = [_parse_case(case_id, entry, index_path) for case_id, entry in entries.items()]
    cases.sort(key=lambda case: case.key)
    return agent, cases


def _parse_case(case_id: str, entry: Any, index_path: Path) -> Case:
    if not isinstance(entry, dict):
        raise GateError(f"{index_path}: case {case_id} is not an object")
    behavior = entry.get("behavior")
    behavior_close = entry.get("behaviorClose")
    if not isinstance(behavior, str) or not isinstance(behavior_close, str):
        raise GateError(f"{index_path}: case {case_id} lacks behavior/behaviorClose")
    duration = entry.get("duration")
    report = entry.get("reportfile")
    case_key(case_id)  # validates the id
    return Case(
        case_id=case_id,
        behavior=behavior,
        behavior_close=behavior_close,
        duration_ms=duration if isinstance(duration, int) else None,
        report_file=report if isinstance(report, str) else None,
    )


# ----------------------------------------------------------------------------- judging


def judge(
    cases: Sequence[Case], allowed_sections: Iterable[int], expected_cases: int | None
) -> Verdict:
    """Split the cases into passing, allowed-only-as-UNIMPLEMENTED and failing ones."""
    allowed_set = frozenset(allowed_sections)
    failing: list[Case] = []
    allowed: list[Case] = []
    for case in cases:
        if all(outcome in PASSING for outcome in case.outcomes):
            continue
        if case.section in allowed_set and all(
            outcome in PASSING or outcome == UNIMPLEMENTED for outcome in case.outcomes
        ):
            allowed.append(case)
        else:
            failing.append(case)
    return Verdict(
        cases=cases,
        failing=failing,
        allowed=allowed,
        allowed_sections=allowed_set,
        expected_cases=expected_cases,
    )


def count_by_section(cases: Iterable[Case]) -> dict[int, dict[str, Counter[str]]]:
    """``{section: {"behavior": Counter, "behaviorClose": Counter}}`` for sections present."""
    counts: dict[int, dict[str, Counter[str]]] = {}
    for case in cases:
        section = counts.setdefault(
            case.section, {"behavior": Counter(), "behaviorClose": Counter()}
        )
        section["behavior"][case.behavior] += 1
        section["behaviorClose"][case.behavior_close] += 1
    return dict(sorted(counts.items()))


def ordered_outcomes(seen: Iterable[str]) -> list[str]:
    """The outcomes seen, in the table column order."""
    seen_set = set(seen)
    known = [outcome for outcome in OUTCOME_ORDER if outcome in seen_set]
    return known + sorted(seen_set.difference(OUTCOME_ORDER))


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def format_sections(sections: Iterable[int]) -> str:
    return ", ".join(str(section) for section in sorted(sections))


# ----------------------------------------------------------------------------- console


def render_table(counts: Mapping[int, Mapping[str, Counter[str]]], field: str) -> list[str]:
    """A fixed-width text table of one field's outcomes per section."""
    columns = ordered_outcomes(outcome for section in counts.values() for outcome in section[field])
    header = ["section", *columns, "total"]
    rows: list[list[str]] = []
    totals: Counter[str] = Counter()
    for number, section in counts.items():
        counter = section[field]
        totals.update(counter)
        title = f"{number} {SECTION_TITLES.get(number, '')}".rstrip()
        rows.append([title, *(str(counter[c]) for c in columns), str(counter.total())])
    rows.append(["all", *(str(totals[c]) for c in columns), str(totals.total())])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _case_table(cases: Sequence[Case], outdir: Path) -> list[str]:
    """One line per case: id, behavior, behaviorClose and report file."""
    table = [["case", "behavior", "behaviorClose", "report"]]
    for case in cases:
        report = str(outdir / case.report_file) if case.report_file else "-"
        table.append([case.case_id, case.behavior, case.behavior_close, report])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]


def render_console(
    verdict: Verdict, *, agent: str, role: str, outdir: Path, expect_text: str
) -> str:
    counts = count_by_section(verdict.cases)
    lines = [
        f"Autobahn results for agent {agent!r}, {ROLES[role]}",
        f"read from {outdir / 'index.json'}: {plural(len(verdict.cases), 'case')} ({expect_text})",
        "",
        "behavior (the exchange of messages):",
        *("  " + row for row in render_table(counts, "behavior")),
        "",
        "behaviorClose (the closing handshake):",
        *("  " + row for row in render_table(counts, "behaviorClose")),
        "",
    ]
    if verdict.allowed:
        lines.append(
            f"Accepted only because UNIMPLEMENTED is allowed in sections "
            f"{format_sections(verdict.allowed_sections)} ({len(verdict.allowed)}):"
        )
        lines.extend(_case_table(verdict.allowed, outdir))
        lines.append("")
    if verdict.failing:
        lines.append(f"Cases that fail the gate: not OK/INFORMATIONAL ({len(verdict.failing)}):")
        lines.extend(_case_table(verdict.failing, outdir))
        lines.append("")
    if not verdict.allowed and not verdict.failing:
        lines.extend(["Every case is OK or INFORMATIONAL.", ""])
    if verdict.allowed_sections:
        lines.append(
            f"NOTE: --allow-unimplemented is in use: UNIMPLEMENTED is accepted in sections "
            f"{format_sections(verdict.allowed_sections)} "
            f"({plural(len(verdict.allowed), 'case')} accepted only because of it)."
        )
    if verdict.passed:
        suffix = ""
        if verdict.allowed_sections:
            suffix = (
                f" (with UNIMPLEMENTED allowed in sections "
                f"{format_sections(verdict.allowed_sections)})"
            )
        lines.append(f"GATE PASSED for the {role} role{suffix}.")
    else:
        lines.append(f"GATE FAILED for the {role} role: {'; '.join(verdict.reasons())}.")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- RESULTS.md


def rawsock_version() -> str:
    """The installed rawsock's version, else the source tree's, else ``unknown``."""
    try:
        return metadata.version("rawsock")
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        return f"{project['version']} (source tree, not installed)"
    except (OSError, KeyError, ValueError):
        return "unknown"


def build_summary(
    verdict: Verdict,
    *,
    agent: str,
    role: str,
    wstest_version: str,
    wall_seconds: float | None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A small JSON-serialisable record of a run, the source of RESULTS.md."""
    when = now or dt.datetime.now(dt.UTC)
    counts = count_by_section(verdict.cases)
    return {
        "role": role,
        "agent": agent,
        "date": when.strftime("%Y-%m-%d %H:%M UTC"),
        "wstest_version": wstest_version,
        "rawsock_version": rawsock_version(),
        "wall_seconds": None if wall_seconds is None else round(wall_seconds),
        "cases": len(verdict.cases),
        "expected_cases": verdict.expected_cases,
        "passed": verdict.passed,
        "allowed_unimplemented": sorted(verdict.allowed_sections),
        "allowed_cases": len(verdict.allowed),
        "sections": {
            str(number): {field: dict(counter) for field, counter in section.items()}
            for number, section in counts.items()
        },
        "failing": [[case.case_id, case.behavior, case.behavior_close] for case in verdict.failing],
    }


def read_summaries(results_md: Path, summary_dir: Path) -> dict[str, dict[str, Any]]:
    """The latest summary of each role: from ``summary_dir``, else embedded in RESULTS.md."""
    summaries: dict[str, dict[str, Any]] = {}
    if results_md.exists():
        for match in SUMMARY_RE.finditer(results_md.read_text(encoding="utf-8")):
            role, payload = match.groups()
            try:
                summaries[role] = json.loads(payload)
            except ValueError:
                continue
    for role in ROLES:
        path = summary_dir / f"summary-{role}.json"
        if path.exists():
            try:
                summaries[role] = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
    return {role: summaries[role] for role in ROLES if role in summaries}


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _markdown_table(sections: Mapping[str, Mapping[str, Mapping[str, int]]], field: str) -> str:
    columns = ordered_outcomes(
        outcome for section in sections.values() for outcome in section.get(field, {})
    )
    lines = [
        "| section | " + " | ".join(columns) + " | total |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    totals: Counter[str] = Counter()
    for number, section in sorted(sections.items(), key=lambda item: int(item[0])):
        counter = Counter(section.get(field, {}))
        totals.update(counter)
        title = f"{number} {SECTION_TITLES.get(int(number), '')}".rstrip()
        cells = [str(counter[c]) for c in columns]
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {counter.total()} |")
    cells = [f"**{totals[c]}**" for c in columns]
    lines.append("| **all** | " + " | ".join(cells) + f" | **{totals.total()}** |")
    return "\n".join(lines)


def render_role_markdown(summary: Mapping[str, Any]) -> str:
    role = str(summary["role"])
    allowed = summary.get("allowed_unimplemented") or []
    verdict = "**PASSED**" if summary.get("passed") else "**FAILED**"
    if allowed:
        verdict += (
            f" (UNIMPLEMENTED accepted in sections {format_sections(allowed)}: "
            f"{summary.get('allowed_cases', '?')} cases)"
        )
    expected = summary.get("expected_cases")
    cases = f"{summary.get('cases')}" + (f" of {expected} expected" if expected else "")
    lines = [
        f"## {role.capitalize()} role: {ROLES.get(role, role)}",
        "",
        f"- Gate: {verdict}",
        f"- Date: {summary.get('date')}",
        f"- Cases: {cases}",
        f"- wstest: {summary.get('wstest_version')}",
        f"- rawsock: {summary.get('rawsock_version')}",
        f"- Wall time: {_duration_text(summary.get('wall_seconds'))}",
        "",
        "`behavior` (the exchange of messages):",
        "",
        _markdown_table(summary.get("sections", {}), "behavior"),
        "",
        "`behaviorClose` (the closing handshake):",
        "",
        _markdown_table(summary.get("sections", {}), "behaviorClose"),
        "",
    ]
    failing = summary.get("failing") or []
    if failing:
        lines.extend(["Cases that fail the gate:", ""])
        lines.append("| case | behavior | behaviorClose |")
        lines.append("|---|---|---|")
        lines.extend(f"| {cid} | {beh} | {close} |" for cid, beh, close in failing)
        lines.append("")
    payload = json.dumps(summary, sort_keys=True, separators=(",", ":"))
    lines.append(f"<!-- {SUMMARY_MARK} {role} {payload} -->")
    return "\n".join(lines)


def render_results_markdown(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    parts = [
        "# Autobahn conformance results",
        "",
        "Results of the [Autobahn test suite](https://github.com/crossbario/autobahn-testsuite)",
        "against rawsock, in both roles. This file is written by `conformance/gate.py`",
        "when `bash conformance/run.sh` runs the full suite; do not edit it by hand.",
        "OK and INFORMATIONAL pass; see `conformance/README.md`.",
        "",
    ]
    if not summaries:
        parts.append("No full run has been recorded yet.\n")
    for role in ROLES:
        if role in summaries:
            parts.extend([render_role_markdown(summaries[role]), ""])
    return "\n".join(parts).rstrip("\n") + "\n"


def write_results(
    summary: Mapping[str, Any], results_md: Path, summary_dir: Path
) -> tuple[Path, Path]:
    """Save this role's summary, then rewrite RESULTS.md from every role's latest summary."""
    summary_dir.mkdir(parents=True, exist_ok=True)
    summary_path = summary_dir / f"summary-{summary['role']}.json"
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", "utf-8")
    summaries = read_summaries(results_md, summary_dir)
    results_md.parent.mkdir(parents=True, exist_ok=True)
    results_md.write_text(render_results_markdown(summaries), encoding="utf-8")
    return summary_path, results_md


# ----------------------------------------------------------------------------- command line


def parse_sections(text: str) -> frozenset[int]:
    """``"12,13"`` -> ``{12, 13}``; an empty string means none."""
    sections: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            number = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a section number: {part!r}") from None
        if number not in SECTIONS:
            raise argparse.ArgumentTypeError(f"section {number} is not in 1..13")
        sections.add(number)
    return frozenset(sections)


def parse_expected(text: str) -> int | None:
    """A number of cases, or ``any`` to skip the count check."""
    if text.lower() == "any":
        return None
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of cases: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("the number of cases must be positive")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gate.py",
        description="Judge an Autobahn test suite run from OUTDIR/index.json.",
    )
    parser.add_argument("outdir", type=Path, help="the suite's outdir, holding index.json")
    parser.add_argument("--role", required=True, choices=sorted(ROLES))
    parser.add_argument("--agent", help="agent name in index.json (default: the only one)")
    parser.add_argument(
        "--allow-unimplemented",
        type=parse_sections,
        default=frozenset(),
        metavar="SECTIONS",
        help="comma-separated sections where UNIMPLEMENTED is accepted (default: none)",
    )
    parser.add_argument(
        "--expect-cases",
        type=parse_expected,
        default=FULL_RUN_CASES,
        metavar="N|any",
        help=f"number of cases the run must have (default: {FULL_RUN_CASES}); any to skip",
    )
    parser.add_argument(
        "--results-md",
        type=Path,
        metavar="PATH",
        help="save this role's summary and rewrite PATH (RESULTS.md) from both roles' summaries",
    )
    parser.add_argument(
        "--summary-dir",
        type=Path,
        metavar="DIR",
        help="where summary-ROLE.json files are kept (default: OUTDIR/..)",
    )
    parser.add_argument("--wstest-version", default="unknown", help="shown in RESULTS.md")
    parser.add_argument(
        "--wall-seconds", type=float, help="wall time of the run, shown in RESULTS.md"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    outdir: Path = args.outdir
    try:
        agent, cases = load_cases(outdir, args.agent)
    except GateError as exc:
        print(f"gate: error: {exc}", file=sys.stderr)
        print(f"GATE FAILED for the {args.role} role: no usable results.")
        return 2
    verdict = judge(cases, args.allow_unimplemented, args.expect_cases)
    expect_text = (
        "case count not checked" if args.expect_cases is None else f"expected {args.expect_cases}"
    )
    print(
        render_console(verdict, agent=agent, role=args.role, outdir=outdir, expect_text=expect_text)
    )
    if args.results_md is not None:
        summary = build_summary(
            verdict,
            agent=agent,
            role=args.role,
            wstest_version=args.wstest_version,
            wall_seconds=args.wall_seconds,
        )
        summary_dir = args.summary_dir or outdir.resolve().parent
        summary_path, results_path = write_results(summary, args.results_md, summary_dir)
        print(f"wrote {summary_path} and {results_path}")
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
