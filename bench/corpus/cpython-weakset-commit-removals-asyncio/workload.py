"""Four worker threads, each running its own asyncio event loop, report a gauge.

A service shards its clients over four threads; each thread runs asyncio.run()
with a few hundred idle client sessions and handles requests in batches with
asyncio.gather().  After every batch it records how many tasks are in flight,
len(asyncio.all_tasks()), the usual way to export a task gauge.

All loops register their tasks in one module-level weakref.WeakSet
(asyncio.tasks._all_tasks).  all_tasks() iterates that set; a task that dies
while any thread is inside that iteration is queued in
WeakSet._pending_removals, and the next create_task() in any thread (WeakSet.add)
drains the queue.  On an interpreter without the fix for cpython gh-89125
(bpo-44962) two threads can drain it at once: both see the list non-empty at
`while l:`, one pops the last entry, the other's l.pop() raises
IndexError: pop from empty list out of create_task().
"""
import asyncio
import sys
import threading

THREADS = 4
SESSIONS = 500        # idle client connections per loop
BATCHES = 30
BATCH = 200           # requests handled per batch

failures = []


async def session(closed):
    await closed.wait()


async def handle(request):
    return request * 2


async def serve():
    closed = asyncio.Event()
    sessions = [asyncio.create_task(session(closed)) for _ in range(SESSIONS)]
    handled = 0
    gauge = []
    for _ in range(BATCHES):
        replies = await asyncio.gather(*(handle(r) for r in range(BATCH)))
        handled += len(replies)
        gauge.append(len(asyncio.all_tasks()))
    closed.set()
    await asyncio.gather(*sessions)
    # the gauge always counts at least this loop's sessions and serve() itself
    assert min(gauge) >= SESSIONS + 1, min(gauge)
    return handled


def shard(name):
    try:
        handled = asyncio.run(serve())
        assert handled == BATCHES * BATCH, handled
    except BaseException as exc:  # carried to the main thread below
        import traceback
        failures.append("%s: %s" % (name, "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))))


threads = [threading.Thread(target=shard, args=("shard-%d" % i,))
           for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
