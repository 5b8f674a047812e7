"""Correct twin of ``check-then-act``: check and claim under one lock.

Must pass every run under any perturbation.
"""

import threading

WORKERS = 3
JOBS = 5000

claimed = {}
processed = []
claim_lock = threading.Lock()


def worker():
    for job in range(JOBS):
        with claim_lock:
            if job in claimed:
                continue
            claimed[job] = threading.current_thread().name
        processed.append(job)


threads = [threading.Thread(target=worker, name="claimer-%d" % (i + 1)) for i in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("processed %d jobs, %d distinct" % (len(processed), len(set(processed))))
