"""A request counter that loses updates across an await.

The bug (read-modify-write around an await): `record_request()` reads the counter, awaits
the write of an access-log line, then stores the value it read plus one. Any task that
updates the counter while this one is suspended in the await has its update overwritten.

Why it hides: the requests of this server arrive two loop iterations apart and the log
write takes one, so with asyncio's first-in-first-out ready queue no two updates ever
overlap. Resume one request a single iteration late, or run two ready tasks in the other
order, and two updates overlap: the counter ends short.

The fix (async-counter-lost-update-fixed): do the read-modify-write with no await inside it
(increment after the log write), or hold an asyncio.Lock around the whole update.
"""
import asyncio

REQUESTS = 10

stats = {"requests": 0}
access_log = []


async def write_log_line(line):
    await asyncio.sleep(0)          # the log writer's drain()
    access_log.append(line)


async def record_request(path):
    seen = stats["requests"]
    await write_log_line("GET %s #%d" % (path, seen + 1))
    stats["requests"] = seen + 1


async def handle(i):
    for _ in range(2 * i):          # request i arrives 2*i steps after the first
        await asyncio.sleep(0)
    await record_request("/item/%d" % i)


async def main():
    await asyncio.gather(*(handle(i) for i in range(REQUESTS)))


asyncio.run(main())
