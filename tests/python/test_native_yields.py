"""Yields and native switch points (yields.semantics): with "free-threaded" a yield where
the interpreter never switches threads by itself is taken and counted, so the harness can
label the failure. (With "native" the backends make visits of native points only:
tests/e2e/test_native_points.py.)"""
import pytest

from _racehunt.yields import Yields


@pytest.fixture
def make(process_state):
    def make(semantics, probability=1.0):
        process_state.process_key = 0x1234
        y = Yields(probability, "line", [], True, semantics=semantics)
        slept = []
        y.sleep = slept.append
        y.other_threads = lambda: 2
        y.gil = True
        y.native_only = semantics == "native"
        process_state.yields = y
        return y, slept
    return make


def visit(y, stream, native):
    """One visit, as a backend makes it: a decision is due when the countdown runs out."""
    stream.visits += 1
    stream.countdown -= 1
    if stream.countdown <= 0:
        y.take(stream, "f.py", 3, True, native)


def test_free_threaded_semantics_yields_anywhere_and_counts_the_non_native_ones(make):
    y, slept = make("free-threaded")
    s = y.new_stream(0)
    visit(y, s, False)
    visit(y, s, True)
    assert s.yields == 2 and len(slept) == 2
    assert y.non_native == 1


def test_on_a_build_whose_gil_is_off_every_point_is_native(process_state, monkeypatch):
    import sys
    process_state.process_key = 0x1234
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    y = Yields(1.0, "line", [], True, semantics="native")
    assert (y.gil, y.native_only) == (False, False)
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    y = Yields(1.0, "line", [], True, semantics="native")
    assert (y.gil, y.native_only) == (True, True)
