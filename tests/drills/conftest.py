"""Drill fixtures: the integration suite's cluster and operator, and a figures report.

Each drill records what it measured with `figures.record(drill, name, value)`; the report is
printed at the end of the run (also without `-s`) and written to `.dev/drills.json`.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.processes import OperatorProcess
from tests.drills.figures import Figures
from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the drills
    camunda7,
    cluster,
    namespace,
    operator,
    pytest_runtest_makereport,
    space,
    start_shim,
)
from tests.support.cluster import Cluster

REPORT = Path(__file__).resolve().parents[2] / ".dev" / "drills.json"
_FIGURES = Figures()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.drill)


@pytest.fixture
def own_operator(
    operator: OperatorProcess,  # noqa: F811 - the session fixtures imported above
    cluster: Cluster,  # noqa: F811
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
