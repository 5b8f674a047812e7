"""native.points: the offsets before which a GIL build can switch threads by itself
(docs/SWITCH_POINTS.md). Checked against each interpreter here: a thread that sleeps
briefly and then looks where the main thread stopped sees it only at those points,
since the main thread runs pure Python code that never releases the GIL in C."""
import json
import subprocess

import pytest

from conftest import INJECTORS
from racehunt_testlib import interpreters

PROBE = 'import dis, json, sys, threading, time\nsys.path.insert(0, sys.argv[1])\nfrom _racehunt import native\nsys.setswitchinterval(0.0002)\nmain_id = threading.get_ident()\n\ndef pyfunc(a):\n    return a + 1\n\nclass Box(object):\n    n = 0\n\ndef work(deadline):\n    d = {}\n    s = 0\n    b = Box()\n    t = time.monotonic\n    while True:\n        for i in range(200):\n            x = i + 1\n            y = x * 3\n            d[i & 7] = y - x\n            s = s ^ d[i & 7]\n            if s > 10**9:\n                s = 0\n            b.n += 1\n            v = abs(x)\n            p = pyfunc(v)\n            try:\n                q = (x, p)[0]\n            finally:\n                s += 1\n        if t() > deadline:\n            break\n    return s\n\nseen = {}\nstop = False\ndef sampler():\n    while not stop:\n        time.sleep(0.0003)\n        f = sys._current_frames().get(main_id)\n        if f is not None and f.f_code in (work.__code__, pyfunc.__code__):\n            key = (f.f_code, f.f_lasti)\n            seen[key] = seen.get(key, 0) + 1\n\nth = threading.Thread(target=sampler)\nth.start()\nwork(time.monotonic() + float(sys.argv[2]))\nstop = True\nth.join()\n\nbad, good = [], 0\nfor (code, lasti), n in seen.items():\n    if lasti < 0:\n        continue\n    ins = {i.offset: i for i in dis.get_instructions(code)}\n    order = sorted(ins)\n    pts = native.points(code)\n    cur = ins.get(lasti)\n    if cur is None:\n        bad.append((code.co_name, lasti, "no instruction", n))\n        continue\n    k = order.index(lasti)\n    nxt = order[k + 1] if k + 1 < len(order) else None\n    cands = {lasti, nxt}\n    if isinstance(cur.argval, int) and cur.opcode in set(dis.hasjabs) | set(dis.hasjrel):\n        cands.add(cur.argval)\n    if cur.opname == "PRECALL" and k + 2 < len(order):\n        cands.add(order[k + 2])     # 3.11: a specialised PRECALL makes the call and checks\n    if cands & pts:\n        good += n\n    else:\n        bad.append((code.co_name, lasti, cur.opname, n))\nshare = len(native.points(work.__code__)) / float(len(list(dis.get_instructions(work.__code__))))\nprint(json.dumps({"samples": good + sum(b[3] for b in bad), "outside": bad, "share": share}))\n'


@pytest.mark.parametrize("name,python", interpreters())
def test_every_observed_switch_is_at_a_native_point(name, python, tmp_path):
    if python is None:
        pytest.skip("no interpreter %s here" % name)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    out = subprocess.run([python, str(probe), str(INJECTORS), "0.5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["samples"] >= 30, got
    assert got["outside"] == [], got
    # The points are a strict subset of the instructions (3.8/3.9 check before most).
    assert 0.0 < got["share"] < 1.0, got
