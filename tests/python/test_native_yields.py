"""Yields and native switch points (yields.semantics): with "native" a decision that falls
where the interpreter never switches threads by itself waits for the thread's next native
visit; with "free-threaded" it yields there and is counted."""
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


def test_native_semantics_defers_a_decision_to_the_next_native_visit(make):
    y, slept = make("native")
    s = y.new_stream(0)
    for native in (False, False, False):
        visit(y, s, native)
    assert slept == [] and s.yields == 0 and y.deferred == 3
    # Still due: the first native visit takes it.
    assert s.countdown <= 0
    visit(y, s, True)
    assert s.yields == 1 and len(slept) == 1 and y.non_native == 0
    assert s.log == [(4, "f.py", 3)]


def test_free_threaded_semantics_yields_anywhere_and_counts_the_non_native_ones(make):
    y, slept = make("free-threaded")
    s = y.new_stream(0)
    visit(y, s, False)
    visit(y, s, True)
    assert s.yields == 2 and len(slept) == 2
    assert y.non_native == 1 and y.deferred == 0


def test_a_free_threaded_build_has_no_non_native_points(make):
    y, slept = make("native")
    y.gil = False
    y.native_only = False     # what Yields decides on a build whose GIL is off
    s = y.new_stream(0)
    visit(y, s, True)
    assert s.yields == 1


def test_a_site_that_is_not_native_draws_nothing_under_native_semantics(make):
    y, slept = make("native", probability=0.0)
    y.sites = 1.0
    y.site_thresholds = [int(1.0 / (n + 1) * 18446744073709551615) for n in range(Yields.SITE_VISITS)]
    s = y.new_stream(0)
    s.visits = 1
    y.site(s, ("code", 3), "f.py", 3, native=False)
    assert s.yields == 0 and y.site_visits == {}
    y.site(s, ("code", 3), "f.py", 3, native=True)
    assert s.yields == 1 and y.site_visits == {("code", 3): 1}
