"""The request counter of async-counter-lost-update, fixed.

The read-modify-write has no await inside it: the request takes its number and stores
the new count in one step, then awaits the log write. Nothing another task does while
this one is suspended can be overwritten.
"""
import asyncio

REQUESTS = 10

stats = {"requests": 0}
access_log = []


async def write_log_line(line):
    await asyncio.sleep(0)          # the log writer's drain()
    access_log.append(line)


async def record_request(path):
    stats["requests"] += 1
    number = stats["requests"]
    await write_log_line("GET %s #%d" % (path, number))


async def handle(i):
    for _ in range(2 * i):          # request i arrives 2*i steps after the first
        await asyncio.sleep(0)
    await record_request("/item/%d" % i)


async def main():
    await asyncio.gather(*(handle(i) for i in range(REQUESTS)))


asyncio.run(main())
