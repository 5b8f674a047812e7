"""A batch tool that checksums archive members in a ProcessPoolExecutor.

It indexes one archive, then starts on the next one (incoming.arc, beside this
file) optimistically: the member jobs are submitted first and the archive
header is read from disk while they queue.  The header is bad, so the tool
cancels the jobs that have not started and shuts the pool down.

In CPython 3.9 and older the executor's manager thread only drops cancelled
work items when it next fills the call queue.  If the cancel and the
shutdown() both land before the manager thread has woken up for the
submissions, it sees the shutdown with a cancelled item still pending, goes
round its loop once more, drops the item and then waits for a result that
will never come: shutdown(wait=True) never returns (gh-94440).  A hang is the
failure; the run otherwise takes a fraction of a second.
"""
import ctypes
import os
import signal
import zlib
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))


def die_with_parent():
    # Worker initializer.  A hung run is killed with SIGKILL by whoever runs
    # it; without this the worker processes would stay blocked on the call
    # queue forever.  (Linux prctl(PR_SET_PDEATHSIG); unrelated to the race.)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def checksum(member):
    name, data = member
    return name, zlib.adler32(data)


def members(tag, n):
    return [(f"{tag}/member{i}", bytes([i]) * 4096) for i in range(n)]


def header_ok(path):
    with open(path, "rb") as f:
        return f.read(4) == b"ARC1"


def main():
    pool = ProcessPoolExecutor(max_workers=2, initializer=die_with_parent)
    index = dict(pool.map(checksum, members("first", 8)))
    assert len(index) == 8
    # next archive: submit first, validate while the jobs queue
    futs = [pool.submit(checksum, m) for m in members("incoming", 2)]
    if not header_ok(os.path.join(HERE, "incoming.arc")):
        for f in futs:
            f.cancel()
    pool.shutdown(wait=True)
    for f in futs:
        assert f.cancelled() or f.done()


if __name__ == "__main__":
    main()
