"""Conditions are set like cluster-api's: transition time moves only when the status flips."""

from datetime import timedelta

from deployunits.models import conditions as cond
from tests.support.clock import T0


def test_set_adds_a_missing_condition() -> None:
    result = cond.set_condition([], "Ready", "True", "Deployed", "ok", generation=3, at=T0)
    [ready] = result
    assert (ready.type, ready.status, ready.reason, ready.observed_generation) == (
        "Ready",
        "True",
        "Deployed",
        3,
    )
    assert ready.last_transition_time == T0


def test_same_status_keeps_the_transition_time_but_updates_reason() -> None:
    first = cond.set_condition([], "Ready", "True", "Deployed", "a", generation=1, at=T0)
    later = T0 + timedelta(minutes=5)
    second = cond.set_condition(first, "Ready", "True", "Undeployed", "b", generation=2, at=later)
    assert second[0].last_transition_time == T0
    assert second[0].reason == "Undeployed"
    assert second[0].observed_generation == 2


def test_a_flip_moves_the_transition_time_and_keeps_order() -> None:
    start = cond.set_condition([], "Ready", "True", "Deployed", "", generation=1, at=T0)
    start = cond.set_condition(start, "Stalled", "False", "NoFailure", "", generation=1, at=T0)
    later = T0 + timedelta(minutes=1)
    flipped = cond.set_condition(start, "Ready", "False", "Waiting", "", generation=2, at=later)
    assert [c.type for c in flipped] == ["Ready", "Stalled"]
    assert flipped[0].last_transition_time == later
    assert cond.is_true(start, "Ready")
    assert not cond.is_true(flipped, "Ready")
    assert cond.find(flipped, "Missing") is None


def test_wire_form_is_metav1_condition() -> None:
    [ready] = cond.set_condition([], "Ready", "True", "Deployed", "m", generation=1, at=T0)
    assert ready.to_wire() == {
        "type": "Ready",
        "status": "True",
        "observedGeneration": 1,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "reason": "Deployed",
        "message": "m",
    }
