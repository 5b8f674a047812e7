"""A worker thread dies with IndexError: check-then-act on a shared list.

The bug
-------
Two flusher threads drain a shared outbox with a "send, then remove"
(at-least-once) loop::

    while outbox:                  # check: anything left?
        message = outbox[-1]       # look at the newest message
        send(message)              # deliver it (formats and records a frame)
        outbox.pop()               # act: remove it

The main thread fills the outbox, starts ``flusher-1`` and ``flusher-2``
(which begin draining together, released by a barrier), joins them and exits
normally (exit status 0).

Why it is a race
----------------
The check ``while outbox`` and the ``pop()`` are separate steps, with the
send in between.  If a flusher is switched out after its check and the other
flusher empties the outbox meanwhile, the first one resumes and pops from an
empty list: ``IndexError: pop from empty list`` kills that worker thread.
The exception is printed by ``threading.excepthook`` and the main thread
carries on, so the process still exits 0; only a harness that watches thread
exceptions (racehunt's ``thread_exceptions = "fail"``) notices.  (The same
interleaving also sends some messages twice and skips others.)  With the
default 5 ms switch interval the flusher that leaves the barrier first drains
the whole outbox before the other one gets the GIL, so it almost never shows.

The fix
-------
Make "take the next message" one atomic step: pop first, then send
(``try: message = outbox.pop() except IndexError: break``), or guard the
check, peek and pop with one lock, or use ``queue.Queue`` with
``get_nowait()`` and handle ``queue.Empty``.  If a message must not be lost
when sending fails, put it back (or use a queue with task_done()).
"""

import threading

MESSAGES = 1500
FLUSHERS = 2

outbox = ["event-%d" % i for i in range(MESSAGES)]
sent = []


def send(message):
    frame = "{}|{}|{}\n".format(threading.current_thread().name, len(message), message)
    sent.append(frame.encode("utf-8"))


start_gate = threading.Barrier(FLUSHERS)


def flusher():
    start_gate.wait()               # both flushers start draining together
    while outbox:
        message = outbox[-1]
        send(message)
        outbox.pop()


def main():
    threads = [threading.Thread(target=flusher, name="flusher-%d" % (i + 1)) for i in range(FLUSHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("sent %d frames, %d messages left" % (len(sent), len(outbox)))


if __name__ == "__main__":
    main()
