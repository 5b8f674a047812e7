"""The wait-for cycles of a dump: among threads (locks, joins) and among asyncio tasks."""
import threading

from _racehunt import aio_tasks, forensics


def thread(ident, held_by=None):
    entry = {"ident": ident, "name": "t%d" % ident}
    if held_by is not None:
        entry["waits_for"] = {"expr": "lock", "held_by_ident": held_by}
    return entry


def test_two_threads_waiting_for_each_other():
    threads = [thread(1), thread(2, held_by=3), thread(3, held_by=2)]
    assert [t["ident"] for t in forensics.wait_cycle(threads)] == [2, 3]


def test_a_chain_into_a_cycle_reports_the_cycle_alone():
    threads = [thread(1, held_by=2), thread(2, held_by=3), thread(3, held_by=4), thread(4, held_by=2)]
    assert [t["ident"] for t in forensics.wait_cycle(threads)] == [2, 3, 4]


def test_no_cycle_in_a_chain_or_in_a_thread_waiting_for_itself():
    assert forensics.wait_cycle([thread(1, held_by=2), thread(2, held_by=3), thread(3)]) == []
    assert forensics.wait_cycle([thread(1, held_by=1)]) == []
    assert forensics.wait_cycle([thread(1, held_by=99)]) == []       # a holder not listed
    assert forensics.wait_cycle([]) == []


def test_task_cycles():
    tasks = [{"id": 10, "name": "a", "waits_for": {"held_by_task": 11}},
             {"id": 11, "name": "b", "waits_for": {"held_by_task": 10}},
             {"id": 12, "name": "c", "waits_for": {"type": "ready"}}]
    assert [t["name"] for t in aio_tasks._task_cycle(tasks)] == ["a", "b"]
    assert aio_tasks._task_cycle(tasks[2:]) == []


def test_the_lock_a_blocked_thread_waits_for_and_the_one_it_holds(process_state, tmp_path):
    # A real deadlock-in-waiting: the worker holds `first` and waits for `second`, which
    # this thread holds; the relations come from the worker's stack and source.
    process_state.package_dir = "/nonexistent"
    first, second = threading.Lock(), threading.Lock()
    started = threading.Event()

    def worker():
        with first:
            started.set()
            with second:
                pass

    second.acquire()
    t = threading.Thread(target=worker, name="worker")
    t.start()
    try:
        started.wait()
        # The worker is blocked in `with second:` (or about to be); wait until it is.
        import sys
        import time
        for _ in range(200):
            frame = sys._current_frames().get(t.ident)
            if frame is not None and frame.f_code.co_name == "worker" and frame.f_lineno == \
                    worker.__code__.co_firstlineno + 3:
                break
            time.sleep(0.01)
        frames = forensics._frames(sys._current_frames()[t.ident], skip_ours=False)
        waits, holds = forensics._relations(frames)
    finally:
        second.release()
        t.join()
    assert waits is not None and waits["expr"] == "second" and waits["id"] == "0x%x" % id(second)
    assert [h["expr"] for h in holds] == ["first"]
    assert holds[0]["id"] == "0x%x" % id(first)


def test_an_rlock_names_its_owner():
    lock = threading.RLock()
    assert forensics._rlock_owner(lock) is None
    with lock:
        assert forensics._rlock_owner(lock) == threading.get_ident()
