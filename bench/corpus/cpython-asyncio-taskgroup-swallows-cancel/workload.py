"""A supervisor that runs a group of stream workers in an asyncio.TaskGroup and
restarts the group whenever a worker loses its connection (`except*`).  After
a short while the program shuts down by cancelling the supervisor.

In CPython 3.12, when the cancel() arrives while the TaskGroup is tearing
itself down after a worker failure (the surviving workers are still running
their `finally` blocks), TaskGroup.__aexit__ catches the CancelledError,
ignores it because it is already aborting, and raises only the worker's
exception group.  The supervisor handles that as a crash, restarts the group,
and carries on as if it had never been cancelled (gh-116720).  Exits
non-zero when the supervisor outlives its cancellation.
"""
import asyncio
import zlib


class ConnectionLost(Exception):
    pass


async def stream_worker(i, sink):
    n = 0
    try:
        while True:
            await asyncio.sleep(0.0005 * (i + 1))      # next message arrives
            n += 1
            if i == 0 and n % 4 == 0:
                raise ConnectionLost(f"stream {i} dropped")
            sink.append(zlib.crc32(b"%d:%d" % (i, n)))
    finally:
        await asyncio.sleep(0)                         # flush, say goodbye


async def supervisor(sink, restarts):
    while True:
        try:
            async with asyncio.TaskGroup() as tg:
                for i in range(3):
                    tg.create_task(stream_worker(i, sink))
        except* ConnectionLost:
            restarts.append(1)                         # reconnect everything


async def main():
    sink, restarts = [], []
    sup = asyncio.create_task(supervisor(sink, restarts))
    await asyncio.sleep(0.03)                          # run for a while
    sup.cancel()                                       # then shut down
    done, pending = await asyncio.wait({sup}, timeout=0.5)
    if pending:                                        # ask again so the run ends
        sup.cancel()
        await asyncio.wait(pending, timeout=0.5)
    assert not pending, \
        f"supervisor ignored cancel() and kept restarting ({len(restarts)} restarts)"


if __name__ == "__main__":
    asyncio.run(main())
