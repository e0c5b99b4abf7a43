"""Tests of conformance/gate.py on synthetic wstest results.

python -m pytest conformance/test_gate.py
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GATE_PATH = Path(__file__).resolve().parent / "gate.py"


def _load_gate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("conformance_gate", GATE_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


gate = _load_gate()

# Cases per top-level section in a full run of autobahntestsuite 25.10.1 (517 in all).
SECTION_SIZES = {1: 16, 2: 11, 3: 7, 4: 10, 5: 20, 6: 145, 7: 37, 9: 54, 10: 1, 12: 90, 13: 126}
# Informational by design (7.1.6, 7.13.1 and 7.13.2 in the suite), among the synthetic ids.
INFORMATIONAL_CASES = ("7.1.6", "7.1.13", "7.1.14")


def case_ids(sizes: Mapping[int, int] = SECTION_SIZES) -> list[str]:
    """Plausible case ids: ``section.1.n``, so that each section has the given size."""
    return [f"{section}.1.{n}" for section, size in sizes.items() for n in range(1, size + 1)]


def entry(behavior: str = "OK", close: str | None = None) -> dict[str, Any]:
    return {
        "behavior": behavior,
        "behaviorClose": behavior if close is None else close,
        "duration": 3,
        "remoteCloseCode": 1000,
        "reportfile": "report.json",
    }


def good_index(agent: str = "rawsock") -> dict[str, dict[str, dict[str, Any]]]:
    cases = {case_id: entry() for case_id in case_ids()}
    cases.update({case_id: entry("INFORMATIONAL") for case_id in INFORMATIONAL_CASES})
    return {agent: cases}


def write_index(tmp_path: Path, index: Mapping[str, Any], role: str = "server") -> Path:
    outdir = tmp_path / "reports" / role
    outdir.mkdir(parents=True)
    (outdir / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return outdir


def run_gate(outdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GATE_PATH), str(outdir), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_full_run_has_517_cases() -> None:
    assert len(case_ids()) == gate.FULL_RUN_CASES == 517


def test_all_ok_and_informational_passes(tmp_path: Path) -> None:
    outdir = write_index(tmp_path, good_index())
    result = run_gate(outdir, "--role", "server")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "GATE PASSED for the server role." in result.stdout
    assert "Every case is OK or INFORMATIONAL." in result.stdout
    assert "allow-unimplemented" not in result.stdout


@pytest.mark.parametrize("field", ["behavior", "behaviorClose"])
def test_non_strict_fails(tmp_path: Path, field: str) -> None:
    index = good_index()
    index["rawsock"]["6.1.4"][field] = "NON-STRICT"
    outdir = write_index(tmp_path, index)
    result = run_gate(outdir, "--role", "server", "--allow-unimplemented", "12,13")
    assert result.returncode == 1
    assert "GATE FAILED for the server role: 1 case not OK/INFORMATIONAL." in result.stdout
    lines = result.stdout.splitlines()
    heading = lines.index("Cases that fail the gate: not OK/INFORMATIONAL (1):")
    listed = lines[heading + 2].split()
    assert listed[0] == "6.1.4"
    assert "NON-STRICT" in listed
    assert str(outdir / "report.json") in listed


@pytest.mark.parametrize("outcome", ["FAILED", "WRONG CODE", "UNCLEAN", "SOMETHING NEW"])
def test_other_outcomes_fail(tmp_path: Path, outcome: str) -> None:
    index = good_index()
    index["rawsock"]["7.1.3"]["behaviorClose"] = outcome
    result = run_gate(write_index(tmp_path, index), "--role", "client")
    assert result.returncode == 1
    assert outcome in result.stdout


def unimplemented_compression() -> dict[str, dict[str, dict[str, Any]]]:
    index = good_index()
    for case_id, result in index["rawsock"].items():
        if case_id.split(".")[0] in ("12", "13"):
            result["behavior"] = "UNIMPLEMENTED"
    return index


def test_unimplemented_fails_without_allowance(tmp_path: Path) -> None:
    result = run_gate(write_index(tmp_path, unimplemented_compression()), "--role", "server")
    assert result.returncode == 1
    assert "216 cases not OK/INFORMATIONAL" in result.stdout


def test_unimplemented_allowed_in_given_sections(tmp_path: Path) -> None:
    outdir = write_index(tmp_path, unimplemented_compression())
    result = run_gate(outdir, "--role", "server", "--allow-unimplemented", "12,13")
    assert result.returncode == 0, result.stdout
    assert "UNIMPLEMENTED is accepted in sections 12, 13" in result.stdout
    assert "216 cases accepted only because of it" in result.stdout
    assert "GATE PASSED for the server role (with UNIMPLEMENTED allowed in sections 12, 13)" in (
        result.stdout
    )


def test_unimplemented_outside_allowed_sections_fails(tmp_path: Path) -> None:
    index = unimplemented_compression()
    index["rawsock"]["5.1.1"]["behavior"] = "UNIMPLEMENTED"
    outdir = write_index(tmp_path, index)
    result = run_gate(outdir, "--role", "server", "--allow-unimplemented", "12,13")
    assert result.returncode == 1
    assert "GATE FAILED for the server role: 1 case not OK/INFORMATIONAL." in result.stdout


def test_allowance_covers_only_the_named_sections(tmp_path: Path) -> None:
    result = run_gate(
        write_index(tmp_path, unimplemented_compression()),
        "--role",
        "server",
        "--allow-unimplemented",
        "12",
    )
    assert result.returncode == 1
    assert "126 cases not OK/INFORMATIONAL" in result.stdout


def test_allowance_accepts_only_unimplemented(tmp_path: Path) -> None:
    index = unimplemented_compression()
    index["rawsock"]["12.1.3"]["behavior"] = "NON-STRICT"
    outdir = write_index(tmp_path, index)
    result = run_gate(outdir, "--role", "server", "--allow-unimplemented", "12,13")
    assert result.returncode == 1


@pytest.mark.parametrize("drop", [1, 517])
def test_wrong_case_count_fails(tmp_path: Path, drop: int) -> None:
    index = good_index()
    for case_id in list(index["rawsock"])[:drop]:
        del index["rawsock"][case_id]
    result = run_gate(write_index(tmp_path, index), "--role", "server")
    assert result.returncode != 0


def test_expect_cases_for_a_subset(tmp_path: Path) -> None:
    index = {"rawsock": {case_id: entry() for case_id in case_ids({1: 16, 2: 11})}}
    outdir = write_index(tmp_path, index)
    assert run_gate(outdir, "--role", "server").returncode == 1
    assert run_gate(outdir, "--role", "server", "--expect-cases", "27").returncode == 0
    assert run_gate(outdir, "--role", "server", "--expect-cases", "28").returncode == 1
    assert run_gate(outdir, "--role", "server", "--expect-cases", "any").returncode == 0


def test_missing_index_is_an_error(tmp_path: Path) -> None:
    result = run_gate(tmp_path, "--role", "server")
    assert result.returncode == 2
    assert "index.json not found" in result.stderr


def test_several_agents_need_a_choice(tmp_path: Path) -> None:
    index = {**good_index("rawsock"), **good_index("other")}
    outdir = write_index(tmp_path, index)
    assert run_gate(outdir, "--role", "server").returncode == 2
    assert run_gate(outdir, "--role", "server", "--agent", "rawsock").returncode == 0


def test_cases_are_counted_per_section() -> None:
    cases = [
        gate.Case("12.1.10", "UNIMPLEMENTED", "OK", 1, None),
        gate.Case("12.1.2", "OK", "OK", 1, None),
        gate.Case("1.1.1", "OK", "FAILED", 1, None),
    ]
    counts = gate.count_by_section(cases)
    assert list(counts) == [1, 12]
    assert counts[12]["behavior"] == {"UNIMPLEMENTED": 1, "OK": 1}
    assert counts[1]["behaviorClose"] == {"FAILED": 1}
    assert sorted(cases, key=lambda case: case.key)[1].case_id == "12.1.2"


def test_results_md_combines_both_roles(tmp_path: Path) -> None:
    results_md = tmp_path / "RESULTS.md"
    server_out = write_index(tmp_path, unimplemented_compression(), role="server")
    bad = good_index()
    bad["rawsock"]["2.7"] = entry("OK", "UNCLEAN")
    del bad["rawsock"]["2.1.1"]
    client_out = write_index(tmp_path, bad, role="client")

    common = ("--allow-unimplemented", "12,13", "--results-md", str(results_md))
    first = run_gate(server_out, "--role", "server", *common, "--wall-seconds", "612")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "reports" / "summary-server.json").exists()
    text = results_md.read_text(encoding="utf-8")
    assert "## Server role" in text
    assert "## Client role" not in text
    assert "10 min 12 s" in text

    second = run_gate(client_out, "--role", "client", *common, "--wstest-version", "X 1.0")
    assert second.returncode == 1
    text = results_md.read_text(encoding="utf-8")
    assert text.index("## Server role") < text.index("## Client role")
    assert "Gate: **PASSED** (UNIMPLEMENTED accepted in sections 12, 13: 216 cases)" in text
    assert "Gate: **FAILED**" in text
    assert "| 2.7 | OK | UNCLEAN |" in text
    assert "wstest: X 1.0" in text

    # Without the summary files (a fresh checkout), the roles come from RESULTS.md itself.
    for summary in (tmp_path / "reports").glob("summary-*.json"):
        summary.unlink()
    third = run_gate(client_out, "--role", "client", *common)
    assert third.returncode == 1
    assert "## Server role" in results_md.read_text(encoding="utf-8")


def test_no_results_md_without_the_option(tmp_path: Path) -> None:
    outdir = write_index(tmp_path, good_index())
    assert run_gate(outdir, "--role", "server").returncode == 0
    assert not (tmp_path / "reports" / "summary-server.json").exists()


@pytest.mark.parametrize("bad", ["0", "14", "x", "12,abc"])
def test_bad_sections_are_rejected(tmp_path: Path, bad: str) -> None:
    outdir = write_index(tmp_path, good_index())
    result = run_gate(outdir, "--role", "server", "--allow-unimplemented", bad)
    assert result.returncode == 2
    assert "allow-unimplemented" in result.stderr
