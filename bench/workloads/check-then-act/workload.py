"""Racy: claim-if-unclaimed without a lock; some jobs are processed twice.

Three workers walk the same list of job ids and claim each job nobody has
claimed yet::

    if job not in claimed:                              # check
        claimed[job] = threading.current_thread().name  # act
        processed.append(job)

A switch between the check and the claim (the call to ``current_thread()``
is a switch point) lets two workers both see the job unclaimed: both process
it.  Invariant: every job processed exactly once.  Fix: make the check and
the claim one step, e.g. ``claimed.setdefault(job, me) is me`` or a lock
(``check-then-act-fixed``).
"""

import threading

WORKERS = 3
JOBS = 5000

claimed = {}
processed = []


def worker():
    for job in range(JOBS):
        if job not in claimed:
            claimed[job] = threading.current_thread().name
            processed.append(job)


threads = [threading.Thread(target=worker, name="claimer-%d" % (i + 1)) for i in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("processed %d jobs, %d distinct" % (len(processed), len(set(processed))))
