"""Property-based fuzzing of the untrusted-input parsers with many examples per target.

The targets (tests/support/fuzz.py) are pure functions: XML and BPMN/DMN/CMMN definitions,
multipart forms, kjar archives, jBPM ids, query parameters and deployment descriptors, each
fed arbitrary bytes and mutated valid inputs. Every input must be parsed or refused with the
parser's own error; hypothesis shrinks any other outcome to a minimal failing input.
"""

import time

import pytest

from tests.drills.figures import Figures
from tests.support.fuzz import TARGETS, fuzz

DRILL = "hostile-input"
EXAMPLES = 4000


@pytest.mark.timeout(300)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzzed_parsers_answer_or_refuse(target: str, figures: Figures) -> None:
    started = time.monotonic()
    tried = fuzz(target, EXAMPLES)
    figures.record(DRILL, f"fuzz inputs tried: {target}", tried)
    figures.record(DRILL, f"fuzz seconds: {target}", time.monotonic() - started)
    assert tried >= EXAMPLES // 2, "hypothesis gave up generating inputs"
