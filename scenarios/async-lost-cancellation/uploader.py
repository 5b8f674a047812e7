"""A background uploader that swallows its own cancellation, so shutdown hangs.

The bug (a lost cancellation): the upload loop treats asyncio.CancelledError like a
dropped connection, logs it and carries on. Cancellation is delivered at whatever await
the task is suspended in. If that is `queue.get()`, outside the try, the task ends as
intended. If it is inside the try (the upload, or the audit write after it), the
cancellation is swallowed: the task goes back to `queue.get()` and waits there for ever,
and `main()`, which awaits the cancelled task, never returns.

Why it hides: `main()` sees the last upload, logs that it is shutting down, then cancels
the uploader. With asyncio's first-in-first-out ready queue the uploader, which became
ready first, always finishes its audit write and is back in `queue.get()` before `main()`
is done logging. Resume the uploader one iteration late, or run the two ready tasks in the
other order, and `main()` cancels it in the middle of the audit write.

The fix (async-lost-cancellation-fixed): never catch CancelledError to carry on; catch the
errors that mean "retry" (ConnectionError) and let cancellation end the task.
"""
import asyncio
import contextlib

JOBS = 5

uploaded = []
audit = []
swallowed = []


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
        except asyncio.CancelledError:
            swallowed.append(job)               # BUG: "retry later", and keep serving
        queue.task_done()


async def main():
    queue = asyncio.Queue()
    worker = asyncio.create_task(uploader(queue), name="uploader")
    for job in range(JOBS):
        queue.put_nowait(job)
    while len(uploaded) < JOBS:                 # wait for the uploads to go through
        await asyncio.sleep(0)
    await asyncio.sleep(0)                      # log "all uploaded, shutting down"
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker


asyncio.run(main())
