"""Drill fixtures: the integration suite's cluster and operator, and a figures report.

Each drill records what it measured with `figures.record(drill, name, value)`; the report is
printed at the end of the run (also without `-s`) and written to `.dev/drills.json`.
"""

import json
from pathlib import Path

import pytest

from tests.drills.figures import Figures
from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the drills
    cluster,
    namespace,
    operator,
    pytest_runtest_makereport,
    space,
    start_shim,
)

REPORT = Path(__file__).resolve().parents[2] / ".dev" / "drills.json"
_FIGURES = Figures()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.drill)


@pytest.fixture(scope="session")
def figures() -> Figures:
    """Where drills put the numbers they print."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FIGURES.drills:
        return
    terminalreporter.section("drill figures")
    for line in _FIGURES.lines():
        terminalreporter.write_line(line)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(_FIGURES.drills, indent=2, sort_keys=True) + "\n")
