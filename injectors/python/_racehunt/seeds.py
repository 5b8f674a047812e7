"""Seeds. Every decision stream is derived from the run seed, so that `replay --seed`
re-creates the same decisions. Pure integer arithmetic: stable across Python versions,
and the workload's global `random` state is never touched.

The same primitives as the preload shim and the harness (docs/PROTOCOL.md, "Streams"), so
that a child process has the same process key in both and one description covers both.
"""
import os

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fmix(z):
    """The splitmix64 finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def derive(key, i):
    """The key of sub-stream i of the stream with this key."""
    return fmix(key ^ fmix((i + GOLDEN) & MASK))


def draw(key, n):
    """Draw n (from 0) of the counter-based stream with this key."""
    return fmix((key + (n + 1) * GOLDEN) & MASK)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def geometric(out, log_q, log1p):
    """Events until the next chosen one, at least 1: geometric with log_q = log1p(-p),
    from the high 53 bits of the draw `out` (a uniform number in [0, 1))."""
    g = int(log1p(-((out >> 11) * (1.0 / 9007199254740992.0))) / log_q) + 1
    return g if g > 0 else 1


def child_key(seed, argv):
    """The process key of a Python process the root started: the run seed mixed with the
    hash of the command line."""
    return fmix(seed ^ fmix(command_line_hash(argv)))


def command_line_hash(argv):
    """Hash of the process's command line, the part of a child's identity that is stable.

    /proc/self/cmdline holds the whole command line, including a `-c` program text, which
    sys.argv lacks: multiprocessing's spawn workers all have sys.argv == ["-c",
    "--multiprocessing-fork"] but differ in the text after -c. sys.argv is the fallback
    where /proc is not available.
    """
    try:
        with open("/proc/self/cmdline", "rb") as f:
            data = f.read()
        if data:
            return fnv1a64(data)
    except OSError:
        pass
    parts = []
    for arg in argv:
        try:
            parts.append(os.fsencode(arg))
        except Exception:
            parts.append(repr(arg).encode("utf-8", "replace"))
    return fnv1a64(b"\0".join(parts))
