"""A small asyncio service that checksums blocks in a thread pool, then shuts down.

Each poller hands a blocking checksum to a ThreadPoolExecutor through
loop.run_in_executor() and bounds it with asyncio.wait_for(), as the asyncio
docs recommend.  After a short while the service stops: it cancels every
poller and waits for them to finish.

In CPython 3.11 and older, asyncio.wait_for() catches the CancelledError meant
for the poller and, if the executor job happened to finish in the same few
loop iterations, returns the job's result instead of re-raising (bpo-42130,
gh-86296).  The cancellation is gone: the poller keeps polling and the
shutdown never completes.  Exits non-zero when a poller outlives its
cancellation.
"""
import asyncio
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

POLLERS = 6
BLOCK = os.urandom(256 * 1024)


def checksum(seq):
    # blocking work: hashlib releases the GIL for large buffers
    return seq, hashlib.sha256(BLOCK).hexdigest()


async def poller(pool, seen):
    loop = asyncio.get_running_loop()
    seq = 0
    while True:
        seq += 1
        try:
            _, digest = await asyncio.wait_for(
                loop.run_in_executor(pool, checksum, seq), timeout=0.5)
        except asyncio.TimeoutError:
            continue
        seen.append(digest)


async def main():
    seen = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        tasks = [asyncio.create_task(poller(pool, seen)) for _ in range(POLLERS)]
        await asyncio.sleep(0.04)          # the service runs for a while
        for t in tasks:                    # then shuts down
            t.cancel()
        done, pending = await asyncio.wait(tasks, timeout=1.0)
        survivors = len(pending)
        if pending:                        # ask again, so that the run can end
            for t in pending:
                t.cancel()
            await asyncio.wait(pending, timeout=1.0)
    assert seen, "no checksum was ever computed"
    assert survivors == 0, f"{survivors} poller(s) ignored cancel()"


if __name__ == "__main__":
    asyncio.run(main())
