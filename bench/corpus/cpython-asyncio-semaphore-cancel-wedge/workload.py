"""An asyncio client that caps concurrent calls with asyncio.Semaphore and
gives every call a deadline with asyncio.wait_for().

Six calls are issued at once against a limit of two.  A call holds its slot
for about 5 ms, and each call may take 10 ms in total, queueing included, so
the last pair is handed its slots at about the moment its deadline expires.

In CPython 3.9 (after bpo-45997) Semaphore.release() sets
`_wakeup_scheduled = True` when it wakes a waiter, and only that waiter clears
it, once it resumes.  If the waiter's deadline cancels it after it was woken
but before it ran, acquire() re-raises without clearing the flag (gh-90155):
from then on every acquire() queues forever although the counter says the
slots are free.  The health check at the end then times out.  Exits non-zero
when the semaphore is wedged.
"""
import asyncio
import zlib

LIMIT = 2
CALLS = 6
SERVICE = 0.005      # time a call holds its slot
DEADLINE = 0.010     # per call, queueing included


async def call(sem, n, payload):
    async with sem:
        await asyncio.sleep(SERVICE)            # the remote side answers
        return n, zlib.crc32(payload)           # decode the answer


async def main():
    sem = asyncio.Semaphore(LIMIT)
    payload = bytes(range(256)) * 64
    results = await asyncio.gather(
        *(asyncio.wait_for(call(sem, n, payload), DEADLINE) for n in range(CALLS)),
        return_exceptions=True)
    answered = 0
    for r in results:                           # late calls are allowed
        if not isinstance(r, asyncio.TimeoutError):
            assert isinstance(r, tuple), r
            answered += 1
    assert answered, "no call was answered"
    # health check: nothing holds the semaphore any more
    try:
        await asyncio.wait_for(call(sem, -1, payload), 0.5)
    except asyncio.TimeoutError:
        raise AssertionError(
            f"semaphore wedged: value={sem._value} but acquire() never returns")


if __name__ == "__main__":
    asyncio.run(main())
