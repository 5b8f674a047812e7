"""Control: the outbox of ``worker-exception`` drained with an atomic take.

Same two flushers and the same outbox; each flusher pops the next message in
one step (``list.pop()`` is atomic under the GIL and on free-threaded builds)
and stops on ``IndexError``, so no flusher can pop from a list the other one
emptied after its check.  Must pass every run under any perturbation.
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
    while True:
        try:
            message = outbox.pop()  # take the next message in one atomic step
        except IndexError:
            break
        send(message)


def main():
    threads = [threading.Thread(target=flusher, name="flusher-%d" % (i + 1)) for i in range(FLUSHERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("sent %d frames, %d messages left" % (len(sent), len(outbox)))


if __name__ == "__main__":
    main()
