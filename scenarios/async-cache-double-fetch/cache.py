"""A read-through cache that asks the backend twice for the same key.

The bug (check-then-act across an await): `get()` looks the key up, and on a miss awaits
the backend and stores the answer. Between the look-up and the store the coroutine is
suspended, and any other task may run. A second request for the same key that arrives in
that window sees the miss too and fetches again: double load on the backend, and with a
non-idempotent fetch (a token, a sequence number) two different "cached" values.

Why it hides: asyncio resumes ready tasks in the order they became ready. Here requests
arrive a few loop iterations apart (each `await asyncio.sleep(0)` stands for an awaited
I/O step that completes at once: a warm connection, a buffered stream), and the first
fetch completes before the second request looks. Only when the first request is resumed
a little later than usual, or two tasks run in another order, does the second one see
the miss. racehunt's loop layer does exactly that.

The fix (async-cache-double-fetch-fixed): remember the in-flight fetch, a Future per key, and
let later requests await it instead of fetching again.
"""
import asyncio

REQUESTS = 4
KEY = "user:42"

cache = {}
fetches = []            # keys the backend was asked for, in order


async def backend_fetch(key):
    await asyncio.sleep(0)          # send the query
    await asyncio.sleep(0)          # read the reply
    fetches.append(key)
    return {"id": key, "version": len(fetches)}


async def get(key):
    if key in cache:
        return cache[key]
    value = await backend_fetch(key)        # other tasks run here
    cache[key] = value
    return value


async def handle_request(i):
    for _ in range(2 * i):          # request i arrives 2*i steps after the first
        await asyncio.sleep(0)
    return await get(KEY)


async def main():
    return await asyncio.gather(*(handle_request(i) for i in range(REQUESTS)))


answers = asyncio.run(main())
versions = sorted({a["version"] for a in answers})
