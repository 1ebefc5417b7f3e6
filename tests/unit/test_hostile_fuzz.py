"""Property-based fuzzing of the untrusted-input parsers, a quick pass for every test run.

The hostile-input drill runs the same targets (tests/support/fuzz.py) with many more examples.
"""

import pytest

from tests.support.fuzz import TARGETS, fuzz

EXAMPLES = 40


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_parsers_answer_or_refuse_with_their_own_error(target: str) -> None:
    assert fuzz(target, EXAMPLES) >= 1
