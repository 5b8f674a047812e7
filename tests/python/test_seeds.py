"""Seed hashing and the decision streams. The vectors were computed from the injectors
as they stood before they became a package; they pin what `replay --seed` re-creates:
a change here changes every decision of every recorded seed."""
import math

from _racehunt import seeds
from _racehunt.yields import Yields


def test_splitmix64_finaliser():
    assert [seeds.fmix(x) for x in (0, 1, 0x0123456789ABCDEF, (1 << 64) - 1)] == \
        [0x0, 0x5692161D100B05E5, 0xB2C058E4EBB5112C, 0xB4D055FCF2CBBD7B]


def test_derived_keys():
    assert [seeds.derive(k, i) for k, i in ((0, 0), (0x1234, 1), (0xDEADBEEFCAFEF00D, 0xC0),
                                            (0x1234, 0xA5))] == \
        [0x48218226FF3CD4BF, 0x1C6E012E67C18BDC, 0x0B0C663A9C1E1806, 0x1FE08FD02AF710D4]


def test_counter_based_draws():
    assert [seeds.draw(0xDEADBEEFCAFEF00D, n) for n in range(5)] == \
        [0x901D4F652FB472CB, 0xA7CE246440F74527, 0x19B40BBBB9380D34, 0xE7A86DC5BE618392,
         0x7366CE945D00E82C]


def test_fnv1a64_of_a_command_line():
    assert seeds.fnv1a64(b"") == 0xCBF29CE484222325
    assert seeds.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert seeds.fnv1a64(b"python3\0w.py\0") == 0x52E3182410EDA5C6


def test_a_child_key_mixes_the_seed_with_its_command_line():
    argv_hash = seeds.command_line_hash(["ignored"])    # /proc/self/cmdline, this process's
    assert seeds.child_key(0xAA, ["ignored"]) == seeds.fmix(0xAA ^ seeds.fmix(argv_hash))
    assert seeds.child_key(0xAA, []) != seeds.child_key(0xAB, [])


def test_geometric_gaps_are_at_least_one_and_follow_their_mean():
    log_q = math.log1p(-0.1)
    gaps = [seeds.geometric(seeds.draw(7, n), log_q, math.log1p) for n in range(20000)]
    assert min(gaps) == 1
    assert 9.5 < sum(gaps) / len(gaps) < 10.5       # mean 1/p = 10
    # The largest draw gives u just below 1, a long gap but a finite one.
    assert seeds.geometric((1 << 64) - 1, log_q, math.log1p) > 300


def test_yield_point_streams_per_thread(process_state):
    process_state.process_key = 0x1234
    y = Yields(0.1, "line", [], False)
    process_state.yields = y
    main, third = y.new_stream(0), y.new_stream(3)
    assert (main.key, third.key) == (0x40EDFFDFDDE9011B, 0xE1D3AB009D5CBAD0)
    assert [main.countdown] + [y.gap(main) for _ in range(10)] == [30, 3, 16, 6, 2, 57, 69, 3, 2, 4, 27]
    assert [third.countdown] + [y.gap(third) for _ in range(10)] == [7, 2, 29, 13, 28, 2, 1, 6, 13, 7, 4]
    every = Yields(1.0, "line", [], False)
    assert [every.gap(main) for _ in range(3)] == [1, 1, 1]


def test_pinned_gaps_lead_to_the_pinned_visits_of_this_process_only(process_state):
    from _racehunt.yields import parse_pins
    process_state.process_key = 0xAA
    pins = parse_pins([["00000000000000aa", 0, 12], ["aa", 0, 5], ["bb", 0, 7], ["aa", 1, 3]])
    assert pins == {0xAA: {0: [5, 12], 1: [3]}, 0xBB: {0: [7]}}
    y = Yields(0.0, "line", [], False, pins)
    process_state.yields = y
    stream = y.new_stream(0)
    assert stream.countdown == 5
    stream.visits = 5
    assert y.gap(stream) == 7
    stream.visits = 12
    assert y.gap(stream) == 1 << 62     # no pin left: never again
    assert y.new_stream(2).countdown == 1 << 62


def test_controlled_mode_draws(process_state):
    from _racehunt.control import Scheduler
    pct = Scheduler(0x1234, "pct", 3, 10000, 200000, 2.0, None, None)
    assert pct.change_points == [19, 90]
    assert [pct._rand(1000) for _ in range(6)] == [994, 812, 342, 253, 427, 10]
    uniform = Scheduler(0xABC, "random", 3, 10000, 200000, 2.0, None, None)
    assert [uniform._rand(7) for _ in range(8)] == [5, 2, 0, 5, 0, 3, 2, 0]
