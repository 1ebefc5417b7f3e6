"""Drill fixtures: an operator of the drill's own, and a figures report (the cluster and the
session's operator are tests/conftest.py's).

Each drill records what it measured with `figures.record(drill, name, value)`; the report is
printed at the end of the run (also without `-s`) and written to `.dev/drills.json`.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.processes import OperatorProcess
from tests.drills.figures import Figures
from tests.support.cluster import Cluster

REPORT = Path(__file__).resolve().parents[2] / ".dev" / "drills.json"
_FIGURES = Figures()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.drill)


@pytest.fixture
def own_operator(
    operator: OperatorProcess,
    cluster: Cluster,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """An operator only this drill starts and kills; the session's one is paused meanwhile.

    Two operators on one namespace would both reconcile it, so the kill would not be a crash.
    """
    operator.stop()
    mine = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log")
    try:
        mine.start(timeout=120)
        yield mine
    finally:
        mine.stop()
        print(f"drill operator log: {mine.log}")
        operator.start(timeout=120)


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
