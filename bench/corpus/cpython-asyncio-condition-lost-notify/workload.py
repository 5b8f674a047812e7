"""A connection pool built the textbook way on asyncio.Condition, in front of
an upstream that allows a single connection: acquire() waits with
cond.wait_for(lambda: free) under the caller's deadline, release() puts the
connection back and calls cond.notify().

Thirty requests arrive together.  Each holds the connection for about 1 ms.
Two in three are best-effort calls whose callers give them a budget of
n ms (n = their arrival number), so many of them run out of budget right
around the moment their turn comes; every third call is important and may
wait 0.5 s.

In CPython 3.12 and older, if notify() picks a waiter whose task is then
cancelled (here: by its own deadline) before it resumes, the wakeup dies with
that task and no other waiter is woken (gh-112202).  The connection lies in
the free list while the important requests wait for a notify() that already
happened, and they time out.  Exits non-zero when an important request is not
served.
"""
import asyncio
import collections
import hashlib

REQUESTS = 30
QUERY = 0.001        # time a request holds the connection
IMPORTANT = 0.5      # deadline of every third request


class Pool:
    def __init__(self, n):
        self.cond = asyncio.Condition()
        self.free = collections.deque(f"conn{i}" for i in range(n))

    async def acquire(self, timeout):
        async with self.cond:
            await asyncio.wait_for(self.cond.wait_for(lambda: self.free), timeout)
            return self.free.popleft()

    async def release(self, conn):
        async with self.cond:
            self.free.append(conn)
            self.cond.notify()


async def request(pool, n, timeout):
    conn = await pool.acquire(timeout)
    try:
        await asyncio.sleep(QUERY)                     # the query runs
        row = f"{conn}:{n}".encode()
    finally:
        await pool.release(conn)
    return n, hashlib.sha1(row).hexdigest()


async def main():
    pool = Pool(1)
    budgets = [IMPORTANT if n % 3 == 0 else 0.001 * n for n in range(REQUESTS)]
    results = await asyncio.gather(
        *(request(pool, n, t) for n, t in enumerate(budgets)),
        return_exceptions=True)
    for n, (t, r) in enumerate(zip(budgets, results)):
        if t == IMPORTANT:
            assert not isinstance(r, BaseException), \
                f"important request {n} not served ({r!r}); free={list(pool.free)}"
        else:                                          # may run out of budget
            assert isinstance(r, (tuple, asyncio.TimeoutError)), r
    assert len(pool.free) == 1


if __name__ == "__main__":
    asyncio.run(main())
