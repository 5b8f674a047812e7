"""The uploader of async-lost-cancellation, fixed: cancellation always ends it.

Only the errors that mean "try again" (a dropped connection) are caught; CancelledError
goes through, wherever the task is suspended when `main()` cancels it. `main()` also
waits for the queue to be drained (`queue.join()`) rather than watching a list, so every
job is uploaded and audited before the shutdown.
"""
import asyncio
import contextlib

JOBS = 5

uploaded = []
audit = []
retried = []


async def upload(job):
    await asyncio.sleep(0)          # send
    await asyncio.sleep(0)          # wait for the acknowledgement
    uploaded.append(job)


async def uploader(queue):
    while True:
        job = await queue.get()
        try:
            await upload(job)
            await asyncio.sleep(0)              # write the audit record
            audit.append(job)
        except ConnectionError:
            retried.append(job)
            queue.put_nowait(job)
        finally:
            queue.task_done()


async def main():
    queue = asyncio.Queue()
    worker = asyncio.create_task(uploader(queue), name="uploader")
    for job in range(JOBS):
        queue.put_nowait(job)
    await queue.join()                          # every job uploaded and audited
    await asyncio.sleep(0)                      # log "all uploaded, shutting down"
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker


asyncio.run(main())
