"""The asyncio layer's decision stream: geometric gaps and the permutations of a shuffle,
pinned to the vectors of the injectors before they became a package."""
import math

import pytest

from _racehunt import aio


@pytest.fixture
def loop_state(process_state):
    process_state.process_key = 0x1234
    saved = aio._settings
    aio._settings = aio._Settings(0.3, 0.05)
    yield aio._LoopState(2)
    aio._settings = saved


def test_a_loops_stream_is_keyed_by_the_process_and_the_loop_number(loop_state):
    assert loop_state.key == 0x0732E0725D585832
    assert [loop_state.shuffle_in, loop_state.defer_in] == [1, 19]


def test_geometric_gaps_and_mixed_radix_permutations(loop_state):
    assert [loop_state.gap(0.3, math.log1p(-0.3)) for _ in range(8)] == [2, 2, 1, 1, 1, 1, 13, 1]
    assert [loop_state.permutation(n) for n in (2, 5, 21, 25)] == [
        [0, 1],
        [1, 4, 3, 0, 2],
        [9, 13, 20, 6, 18, 7, 12, 11, 4, 19, 16, 14, 3, 17, 10, 1, 2, 5, 0, 15, 8],
        [7, 19, 22, 20, 1, 15, 21, 17, 18, 23, 6, 13, 12, 8, 9, 11, 10, 0, 4, 5, 3, 2, 14, 16, 24]]
    # One draw serves up to 20 places (20! < 2**64): 2, 5 and 21 places took one draw each
    # (21 needed a second), 25 two more, after the 8 gaps and the 2 first gaps.
    assert loop_state.draws == 16


def test_a_permutation_is_one(loop_state):
    for n in range(1, 40):
        assert sorted(loop_state.permutation(n)) == list(range(n))


def test_probabilities_zero_and_one(loop_state):
    assert loop_state.gap(0.0, None) == 1 << 62      # never
    assert loop_state.gap(1.0, None) == 1            # every time, nothing drawn
    draws = loop_state.draws
    loop_state.gap(1.0, None)
    assert loop_state.draws == draws


def test_task_names_are_escaped_for_the_loop_log():
    assert aio._clean("worker 1,a#b%\t") == "worker%201%2Ca%23b%25%09"
    assert aio._clean("") == "%-"
