"""Site yields: visit n of a code site yields with chance sites / (n + 1), drawn from the
visiting thread's stream, so one-shot code gets yields and a hot loop only a few."""
import pytest

from _racehunt.yields import Yields


@pytest.fixture
def yields(process_state):
    def make(sites, pins=None):
        process_state.process_key = 0x1234
        y = Yields(0.0, "line", [], True, pins=pins, sites=sites)
        y.sleep = lambda s: None            # decisions only, no sleeping
        y.other_threads = lambda: 2
        process_state.yields = y
        return y
    return make


def visit(y, stream, key, times):
    taken = []
    for _ in range(times):
        stream.visits += 1
        before = stream.yields
        y.site(stream, key, "f.py", key[1])
        if stream.yields != before:
            taken.append(stream.visits)
    return taken


def test_a_site_run_once_yields_in_about_a_sites_share_of_processes(yields, process_state):
    hits = 0
    for key in range(2000):
        y = yields(0.3)
        process_state.process_key = key
        stream = y.new_stream(0)
        hits += bool(visit(y, stream, ("code", 1), 1))
    assert 0.25 * 2000 < hits < 0.35 * 2000, hits


def test_a_hot_site_gets_a_few_yields_and_none_after_its_first_visits(yields):
    y = yields(0.5)
    stream = y.new_stream(0)
    taken = visit(y, stream, ("loop", 7), 100000)
    # Expected 0.5 * (1 + 1/2 + ... + 1/100) = 2.6 yields, all among the first 100 visits.
    assert len(taken) <= 12, taken
    assert all(v <= Yields.SITE_VISITS for v in taken), taken
    assert y.site_visits[("loop", 7)] == Yields.SITE_VISITS


def test_decisions_depend_on_the_process_key_thread_and_visit_only(yields):
    a, b = yields(0.5), None
    sa = a.new_stream(1)
    first = [visit(a, sa, ("s", n), 1) for n in range(200)]
    b = yields(0.5)
    sb = b.new_stream(1)
    assert [visit(b, sb, ("s", n), 1) for n in range(200)] == first
    assert any(first) and not all(first)
    assert sa.log == sb.log and len(sa.log) == sum(1 for f in first if f)


def test_no_site_yields_with_pins_or_at_call_granularity(yields, process_state):
    assert yields(0.5, pins={}).sites == 0
    process_state.process_key = 1
    assert Yields(0.0, "call", [], False, sites=0.5).sites == 0


def test_a_yield_with_no_other_thread_neither_sleeps_nor_releases_the_gil(yields):
    """A single-threaded program (an asyncio event loop) has nobody to yield to: the yield
    is decided and logged as before, but no sleep is made, so racehunt does not slow it
    past its own deadlines."""
    slept = []
    y = yields(1.0)
    y.sleep = slept.append
    stream = y.new_stream(0)
    y.other_threads = lambda: 0
    assert visit(y, stream, ("once", 1), 1) == [1]
    assert slept == []
    y.other_threads = lambda: 1
    assert visit(y, stream, ("once", 2), 1) == [2]
    assert slept == [1e-6]
