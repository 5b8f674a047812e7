"""The read-through cache of async-cache-double-fetch, fixed: one fetch per key.

`get()` keeps the in-flight fetch of each key as a Future. The look-up and the
registration of the fetch happen with no await between them, so no other task can see
the key as missing once a fetch has started; later requests await the same Future.
A failed fetch is forgotten, so the next request tries again.
"""
import asyncio

REQUESTS = 4
KEY = "user:42"

cache = {}              # key -> Future of the value
fetches = []            # keys the backend was asked for, in order


async def backend_fetch(key):
    await asyncio.sleep(0)          # send the query
    await asyncio.sleep(0)          # read the reply
    fetches.append(key)
    return {"id": key, "version": len(fetches)}


async def get(key):
    pending = cache.get(key)
    if pending is None:
        pending = cache[key] = asyncio.ensure_future(backend_fetch(key))
    try:
        return await asyncio.shield(pending)
    except Exception:
        if cache.get(key) is pending:
            del cache[key]
        raise


async def handle_request(i):
    for _ in range(2 * i):          # request i arrives 2*i steps after the first
        await asyncio.sleep(0)
    return await get(KEY)


async def main():
    return await asyncio.gather(*(handle_request(i) for i in range(REQUESTS)))


answers = asyncio.run(main())
versions = sorted({a["version"] for a in answers})
