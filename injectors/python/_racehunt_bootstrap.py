"""racehunt's Python bootstrap: everything racehunt does inside a Python process.

sitecustomize.py calls install() when RACEHUNT_PROTOCOL is set. docs/PROTOCOL.md is the
contract this module implements; read it before changing an event or a file name.

Design rules, each of which the tests check:
- Never raise into the workload. Every hook is wrapped so that an internal error becomes
  a `warning` event (or is dropped) and the workload carries on unchanged.
- Never change what the workload can observe: sys.path, __main__, sys.argv, the exit
  status, the global `random` state, and the output of excepthooks.
- Start-up is cheap: only modules that are built in or already loaded are imported at
  start-up; `threading` is patched when the workload imports it, not imported by us.
- Python 3.8 syntax only.
"""

import os
import sys
import time
import _thread

PROTOCOL_VERSION = 1

# ---------------------------------------------------------------------------------------
# Process-wide state. Module globals rather than an object, because the hot paths (trace
# callbacks) read a few of them and global lookups are the cheapest there are.

_installed = False
_fd = -1                    # O_APPEND descriptor of py-<pid>.jsonl
_run_dir = None
_pid = 0
_role = "child"
_config = {}
_invariants = []
_process_key = 0
_fork_count = 0
_main_ident = None
_main_done_written = False
_pending_warnings = []      # warnings raised during install(), written after `start`
_warned = set()             # keys of once-only warnings
_map_lock = _thread.allocate_lock()
_started_at = {}            # thread ident -> time.time() when the thread began
_names_seen = {}            # native thread id -> Python name, every thread that began (capped)
_threading_patched = False
_thread_counter = None      # itertools.count of thread creation order (main thread is 0)
_fault_file = None          # kept alive: faulthandler writes to its descriptor
_dump_signal = None
_yields = None              # _Yields when Python yield points are active
_control = None             # _racehunt_control.Scheduler in controlled mode
_yields_mode = "off"
_orig_excepthook = None

_OUR_FILES = ()             # our own source files, hidden from check_failed stacks
_OUR_DIR = None             # the directory they are in


def is_installed():
    """True when install() succeeded in this process (used by racehunt.active())."""
    return _installed


# ---------------------------------------------------------------------------------------
# JSON. The json package imports `re` and costs 5-10 ms per process; events need only a
# small encoder and config.json only a small parser, so both are written here.

_ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                 ord("\t"): "\\t", 0x7F: "\\u007f", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def _jstr(s):
    return '"' + s.translate(_ESCAPES) + '"'


def _encode(value, out):
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_jstr(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        # JSON has no NaN or infinity; null is the honest "no number" value.
        out.append(repr(value) if value == value and value not in (float("inf"), float("-inf"))
                   else "null")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_jstr(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        out.append(_jstr(_safe_repr(value)))


def _dumps(value):
    out = []
    _encode(value, out)
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable file names) are not valid UTF-8; a JSON reader
        # in the harness would reject the whole line, so they become '?'.
        return text.encode("utf-8", "replace")


class _JsonError(ValueError):
    pass


class _JsonParser(object):
    """A strict parser for the JSON the harness writes (config.json)."""

    _SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
                       "r": "\r", "t": "\t"}

    def __init__(self, text):
        self.s = text
        self.i = 0

    def parse(self):
        value = self.value()
        self.ws()
        if self.i != len(self.s):
            self.fail("trailing data")
        return value

    def fail(self, what):
        raise _JsonError("config.json: %s at offset %d" % (what, self.i))

    def ws(self):
        s, i, n = self.s, self.i, len(self.s)
        while i < n and s[i] in " \t\r\n":
            i += 1
        self.i = i

    def value(self):
        self.ws()
        s, i = self.s, self.i
        if i >= len(s):
            self.fail("unexpected end")
        c = s[i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return self.string()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, i):
                self.i = i + len(word)
                return val
        j = i
        while j < len(s) and s[j] in "+-0123456789.eE":
            j += 1
        token = s[i:j]
        if not token:
            self.fail("unexpected character %r" % c)
        self.i = j
        try:
            if "." in token or "e" in token or "E" in token:
                return float(token)
            return int(token)
        except ValueError:
            self.fail("bad number %r" % token)

    def obj(self):
        self.i += 1
        result = {}
        self.ws()
        if self.s.startswith("}", self.i):
            self.i += 1
            return result
        while True:
            self.ws()
            if not self.s.startswith('"', self.i):
                self.fail("expected a key")
            key = self.string()
            self.ws()
            if not self.s.startswith(":", self.i):
                self.fail("expected ':'")
            self.i += 1
            result[key] = self.value()
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("}", self.i):
                self.i += 1
                return result
            else:
                self.fail("expected ',' or '}'")

    def arr(self):
        self.i += 1
        result = []
        self.ws()
        if self.s.startswith("]", self.i):
            self.i += 1
            return result
        while True:
            result.append(self.value())
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("]", self.i):
                self.i += 1
                return result
            else:
                self.fail("expected ',' or ']'")

    def string(self):
        s = self.s
        i = self.i + 1
        parts = []
        while True:
            j = i
            while j < len(s) and s[j] != '"' and s[j] != "\\":
                j += 1
            if j >= len(s):
                self.fail("unterminated string")
            parts.append(s[i:j])
            if s[j] == '"':
                self.i = j + 1
                return "".join(parts)
            esc = s[j + 1:j + 2]
            if esc in self._SIMPLE_ESCAPES:
                parts.append(self._SIMPLE_ESCAPES[esc])
                i = j + 2
            elif esc == "u":
                try:
                    code = int(s[j + 2:j + 6], 16)
                except ValueError:
                    self.i = j
                    self.fail("bad \\u escape")
                i = j + 6
                if 0xD800 <= code < 0xDC00 and s[i:i + 2] == "\\u":
                    try:
                        low = int(s[i + 2:i + 6], 16)
                    except ValueError:
                        low = 0
                    if 0xDC00 <= low < 0xE000:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                parts.append(chr(code))
            else:
                self.i = j
                self.fail("bad escape")


def _loads(text):
    return _JsonParser(text).parse()


# ---------------------------------------------------------------------------------------
# Events.

def _emit(event, fields=None):
    """Append one event as one line with one write(); never raises."""
    if _fd < 0:
        return
    try:
        record = {"event": event}
        if fields:
            record.update(fields)
        record["time"] = round(time.time(), 6)
        os.write(_fd, _dumps(record) + b"\n")
    except Exception:
        pass


def _warn(message, key=None):
    """A `warning` event; with a key, only the first warning of that key is written."""
    if key is not None:
        if key in _warned:
            return
        _warned.add(key)
    if not _installed:
        _pending_warnings.append(message)
    else:
        _emit("warning", {"message": message})


def _internal_error(where, exc):
    """A bug or an unexpected state inside racehunt: say so once per place, carry on."""
    try:
        _warn("racehunt internal error in %s: %s: %s" % (where, type(exc).__name__, exc),
              key="internal:" + where)
    except Exception:
        pass


def _safe_repr(value, limit=2000):
    try:
        text = repr(value)
    except Exception as exc:
        text = "<repr failed: %s: %s>" % (type(exc).__name__, exc)
    if len(text) > limit:
        text = text[:limit] + "...(%d more characters)" % (len(text) - limit)
    return text


def _qualified_type(exc_type):
    try:
        module = getattr(exc_type, "__module__", None)
        name = getattr(exc_type, "__qualname__", None) or exc_type.__name__
        if module in (None, "builtins", "__builtin__"):
            return name
        return "%s.%s" % (module, name)
    except Exception:
        return _safe_repr(exc_type)


def _exc_message(exc):
    try:
        text = str(exc)
    except Exception as err:
        text = "<str() failed: %s>" % type(err).__name__
    if len(text) > 4000:
        text = text[:4000] + "...(%d more characters)" % (len(text) - 4000)
    return text


_MAX_FRAMES = 200


def _trim_frames(frames, fields):
    # A RecursionError has about a thousand frames; the outermost and innermost ones are
    # what a reader needs, and a bounded event keeps the one-write-per-line promise cheap.
    if len(frames) > _MAX_FRAMES:
        fields["frames_omitted"] = len(frames) - _MAX_FRAMES
        frames = frames[:20] + frames[-(_MAX_FRAMES - 20):]
    fields["frames"] = frames


_start_cwd = None
_abs_cache = {}


def _abs_file(name):
    """The absolute form of a code object's file name.

    Python 3.8 keeps the script's path as typed on the command line ("w.py"), relative to
    the directory the process started in; later versions make it absolute. Resolving
    against the start directory gives every version the same, readable names, even when
    the workload changed directory since.
    """
    result = _abs_cache.get(name)
    if result is None:
        result = name
        if name and not name.startswith("<") and not os.path.isabs(name) and _start_cwd:
            result = os.path.normpath(os.path.join(_start_cwd, name))
        _abs_cache[name] = result
    return result


def _tb_frames(tb):
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append([_abs_file(code.co_filename), tb.tb_lineno, code.co_name])
        tb = tb.tb_next
    return frames


def _stack_frames(frame, skip_ours=False):
    frames = []
    while frame is not None:
        code = frame.f_code
        if not (skip_ours and code.co_filename in _OUR_FILES):
            frames.append([_abs_file(code.co_filename), frame.f_lineno, code.co_name])
        frame = frame.f_back
    frames.reverse()
    return frames


def _thread_objects():
    """ident -> threading.Thread for threads threading knows about (empty before import)."""
    threading = sys.modules.get("threading")
    if threading is None or not _threading_patched:
        return {}
    try:
        return dict(threading._active)
    except Exception:
        return {}


def _thread_name(ident):
    thread = _thread_objects().get(ident)
    if thread is not None:
        try:
            return thread.name
        except Exception:
            pass
    return "MainThread" if ident == _main_ident else "Thread-%d" % ident


def _record_exception(exc_type, exc, tb, name, ident, native_id):
    if exc_type is not None and issubclass(exc_type, SystemExit):
        # SystemExit is how a program or a thread says "stop"; it is not a failure.
        return
    fields = {
        "thread": name,
        "ident": ident,
        "native_id": native_id,
        "main": ident == _main_ident,
        "type": _qualified_type(exc_type),
        "message": _exc_message(exc),
    }
    _trim_frames(_tb_frames(tb), fields)
    fields["threads"] = _all_threads()
    _add_loops(fields)
    _emit("exception", fields)


def _native_id():
    try:
        return _thread.get_native_id()
    except Exception:
        return None


def _refresh_native_id():
    """After fork: threading (before 3.12) keeps the parent's native id on the thread that
    forked, which is the child's main thread, so dumps would name the parent's thread."""
    threading = sys.modules.get("threading")
    if threading is None:
        return
    try:
        thread = threading._active.get(_thread.get_ident())
        if thread is not None and hasattr(thread, "_set_native_id"):
            thread._set_native_id()
    except Exception:
        pass


# ---------------------------------------------------------------------------------------
# Seeds. Every decision stream is derived from the run seed, so that `replay --seed`
# re-creates the same decisions. Pure integer arithmetic: stable across Python versions,
# and the workload's global `random` state is never touched.

_MASK = (1 << 64) - 1


_GOLDEN = 0x9E3779B97F4A7C15


# The same primitives as the preload shim (docs/PROTOCOL.md, "Streams"), so that a child
# process has the same process key in both and one description covers both.
def _fmix(z):
    """The splitmix64 finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _derive(key, i):
    return _fmix(key ^ _fmix((i + _GOLDEN) & _MASK))


def _draw(key, n):
    """Draw n (from 0) of the counter-based stream with this key."""
    return _fmix((key + (n + 1) * _GOLDEN) & _MASK)


def _fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h


def _command_line_hash(argv):
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
            return _fnv1a64(data)
    except OSError:
        pass
    parts = []
    for arg in argv:
        try:
            parts.append(os.fsencode(arg))
        except Exception:
            parts.append(repr(arg).encode("utf-8", "replace"))
    return _fnv1a64(b"\0".join(parts))


# ---------------------------------------------------------------------------------------
# Files in the run directory.

def _open_events(run_dir, pid):
    return os.open(os.path.join(run_dir, "py-%d.jsonl" % pid),
                   os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)


# The preload shim's counters file (injectors/protocol.h, struct racehunt_shim_counters):
# magic at offset 0, pid at 8, flags at 24, all little-endian on the platforms racehunt
# supports.
_SHIM_MAGIC = 0x52484348
_SHIM_FLAG_ARMED = 0x8


def _arm_shim(run_dir, pid):
    """Arms the preload shim in this process by setting the armed bit in the mapped
    counters file the shim reads. Returns a warning or None."""
    try:
        fd = os.open(os.path.join(run_dir, "shim-%d.bin" % pid), os.O_RDWR)
    except OSError:
        # No counters file: the shim is not loaded in this process (a static interpreter,
        # LD_PRELOAD cleared, a set-uid program); nothing to arm.
        return None
    try:
        head = os.pread(fd, 28, 0)
        if len(head) < 28 or int.from_bytes(head[0:4], "little") != _SHIM_MAGIC \
                or int.from_bytes(head[8:12], "little", signed=True) != pid:
            return "the preload shim's counters file is not this process's; shim not armed"
        flags = int.from_bytes(head[24:28], "little") | _SHIM_FLAG_ARMED
        os.pwrite(fd, flags.to_bytes(4, "little"), 24)
    finally:
        os.close(fd)
    return None


def _arm_when_main_starts():
    """racehunt asked for late arming (arm_python=1): arm the shim when the first frame of
    `__main__` starts (a script, `-m`, `-c`), through a one-shot profile function. Arming
    at the end of install() instead would perturb the rest of start-up (opening, reading
    and compiling the script), whose sync-point calls vary from run to run with the file
    system's caches, and so shift every later decision of the run."""
    def arm(frame, event, arg):
        if event != "call" or frame.f_code.co_name != "<module>" \
                or frame.f_globals.get("__name__") != "__main__":
            return
        if sys.getprofile() is arm:
            sys.setprofile(None)
        try:
            problem = _arm_shim(_run_dir, _pid)
        except Exception as exc:
            problem = "could not arm the preload shim: %s: %s" % (type(exc).__name__, exc)
        if problem:
            _warn(problem)
    if sys.getprofile() is not None:
        # Somebody (a chained sitecustomize, a .pth file) set a profile function: leave it
        # alone and arm now, with the rest of start-up perturbed.
        problem = _arm_shim(_run_dir, _pid)
        if problem:
            _warn(problem)
        return
    sys.setprofile(arm)


def _write_atomically(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _thread_entry(thread, ident=None, native_id=None):
    if ident is None:
        ident = thread.ident
    if native_id is None:
        native_id = getattr(thread, "native_id", None)
    return {"name": thread.name, "ident": ident, "native_id": native_id,
            "daemon": bool(thread.daemon), "started_at": _started_at.get(ident)}


def _write_thread_map(extra=None, exclude=None):
    """Rewrite threads-<pid>.json: the live threads with their Python names.

    Called when a thread starts (`extra` is that thread, not yet in threading._active)
    and when it ends (`exclude` is its ident, already removed). The harness reads this
    file to label faulthandler dumps, possibly while the process is stuck, hence the
    atomic replace: the file is always a whole list.
    """
    if _run_dir is None:
        return
    with _map_lock:
        entries = []
        seen = set()
        if extra is not None:
            entries.append(extra)
            seen.add(extra["ident"])
        for ident, thread in _thread_objects().items():
            if ident in seen or ident == exclude:
                continue
            try:
                entries.append(_thread_entry(thread, ident))
            except Exception:
                continue
            seen.add(ident)
        if _main_ident not in seen and _main_ident != exclude and not _threading_patched:
            # Before the workload imports threading, the only thread we know of is ours.
            entries.insert(0, {"name": "MainThread", "ident": _main_ident,
                               "native_id": _main_native_id, "daemon": False,
                               "started_at": _started_at.get(_main_ident)})
        # Main thread first, the others in start order: the order a reader expects.
        entries.sort(key=lambda e: (e["ident"] != _main_ident, e["started_at"] or 0.0))
        _write_atomically(os.path.join(_run_dir, "threads-%d.json" % _pid), _dumps(entries))


_main_native_id = None
_fork_server_command = None  # set by _racehunt_server.py in a run it forked


# ---------------------------------------------------------------------------------------
# Python yield points.

class _Stream(object):
    """One thread's seeded decision stream and counters."""

    __slots__ = ("index", "key", "draws", "countdown", "visits", "yields", "log", "tracer", "name",
                 "next_at")

    def __init__(self, index):
        self.tracer = None
        self.name = "MainThread" if index == 0 else ""
        self.reset(index)

    def reset(self, index):
        self.index = index
        self.key = _derive(_process_key, index)
        self.draws = 0
        self.visits = 0
        self.yields = 0
        self.log = [] if (_yields is not None and _yields.log_enabled) else None
        self.countdown = _yields.gap(self) if _yields is not None else 1 << 62
        self.next_at = self.countdown
        if _yields is not None and _yields.trace is not None:
            self.countdown = 1      # tracing: take() sees every visit


class _Yields(object):
    """Decides, per thread and per visit of a focus line, whether to yield the GIL.

    The decision for visit k of thread t depends only on (process key, t, k): each
    thread owns a splitmix64 stream, and instead of drawing a number per visit the
    stream draws the geometric gap to the next yield, so the hot path is one decrement.
    """

    LOG_LIMIT = 200000      # entries kept per thread in yields-<pid>.log
    SLEEP_SHARE = 0.5       # of the elapsed time, at most, spent in yields
    budget_hits = 0         # decided yields skipped because the budget was spent

    TRACE_LIMIT = 20000     # visits kept in trace-<pid>.log (the last ones)
    TRACE_BEFORE = 200      # and around each yield taken: visits before it
    TRACE_AFTER = 400       # and after it
    TRACE_WINDOWS = 50      # at most this many such windows

    def __init__(self, probability, granularity, focus, log_enabled, pins=None, trace=False):
        import math
        # Tracing (replay of pins): every visit of focus code, in the order threads ran
        # it, the last TRACE_LIMIT kept, for a readable interleaving of a noise-mode run.
        self.trace = None
        self.trace_count = 0
        self.windows = []        # visits around each yield taken, kept whatever follows
        self.window_open = 0     # visits still to copy into the last window
        if trace:
            import collections
            self.trace = collections.deque(maxlen=self.TRACE_LIMIT)
        self.log1p = math.log1p
        # Pinned mode (racehunt minimize, replay --pins): yield only at the listed visits,
        # {process key: {thread index: sorted visits}}; nothing is drawn.
        self.pins = pins
        if pins is not None:
            import bisect
            self.bisect = bisect.bisect_right
        self.probability = probability
        self.granularity = granularity
        self.log_enabled = bool(log_enabled)
        self.denominator = math.log1p(-probability) if probability < 1.0 else None
        self.verdicts = {}
        self.streams = []
        self.paths = []          # normalised absolute files / directory prefixes
        self.globs = []
        self.modules = []        # unresolved module names
        for entry in focus:
            if not isinstance(entry, str) or not entry:
                continue
            if entry.startswith("glob:"):
                self.globs.append(entry[5:])
            elif entry.startswith("module:"):
                self.modules.append(entry[7:])
            else:
                self._add_path(entry)
        self.fnmatch = None
        if self.globs:
            import fnmatch
            self.fnmatch = fnmatch.fnmatchcase
        self.sleep = time.sleep
        self.clock = time.perf_counter
        self.other_threads = _thread._count
        # Budget: yields may take at most SLEEP_SHARE of the time since set-up; past it a
        # yield point does nothing. Without it, opcode yield points in a hot loop slowed a
        # correct program (inline-attr-increment-fixed, 0.15 s plain) to over 20 s, past
        # its timeout: a false alarm made by racehunt.
        self.t0 = self.clock()
        self.slept = 0.0

    def _add_path(self, path, is_dir=None):
        forms = set()
        for form in (os.path.normpath(os.path.abspath(path)),
                     os.path.realpath(path)):
            forms.add(form)
        for form in forms:
            if is_dir is None:
                is_dir_here = path.endswith("/") or os.path.isdir(form)
            else:
                is_dir_here = is_dir
            self.paths.append((form.rstrip("/") + "/", True) if is_dir_here else (form, False))

    def gap(self, stream):
        """Visits until the next yield: geometric with parameter p, at least 1; with pins,
        up to the next pinned visit of this thread."""
        if self.pins is not None:
            visits = self.pins.get(_process_key, {}).get(stream.index)
            if visits:
                i = self.bisect(visits, stream.visits)
                if i < len(visits):
                    return visits[i] - stream.visits
            return 1 << 62
        if self.denominator is None:
            return 1
        out = _draw(stream.key, stream.draws)
        stream.draws += 1
        u = (out >> 11) * (1.0 / 9007199254740992.0)      # uniform in [0, 1)
        gap = int(self.log1p(-u) / self.denominator) + 1
        return gap if gap > 0 else 1

    def _resolve_modules(self):
        """Turn `module:NAME` entries into paths once the module is importable or imported.

        A module's code first runs while it is being imported, and by then it is in
        sys.modules with its __file__, so resolving lazily at each new file name never
        misses a file of the module. `python -m NAME` runs the module as __main__ with
        __spec__.name == NAME, which is checked too.
        """
        still = []
        main = sys.modules.get("__main__")
        main_spec = getattr(main, "__spec__", None)
        for name in self.modules:
            module = sys.modules.get(name)
            if module is None and main_spec is not None and getattr(main_spec, "name", None) == name:
                module = main
            file = getattr(module, "__file__", None) if module is not None else None
            path = getattr(module, "__path__", None) if module is not None else None
            if path is not None:
                try:
                    for entry in list(path):
                        self._add_path(entry, True)
                except Exception:
                    pass
                if file:
                    self._add_path(os.path.dirname(file), True)
            elif file:
                self._add_path(file, False)
            else:
                still.append(name)
        self.modules = still

    def verdict(self, filename):
        """Is code from this file in focus? Cached per file name by the callers."""
        result = False
        if filename and not filename.startswith("<"):
            if self.modules:
                self._resolve_modules()
            absolute = _abs_file(filename)
            if absolute in _OUR_FILES or os.path.dirname(absolute) == _OUR_DIR:
                # racehunt's own code is never in focus, even with focus widened to
                # everything: yields there would perturb racehunt, not the workload.
                self.verdicts[filename] = False
                return False
            candidates = {absolute}
            try:
                candidates.add(os.path.realpath(absolute))
            except Exception:
                pass
            for cand in candidates:
                for path, is_dir in self.paths:
                    if (cand.startswith(path) if is_dir else cand == path):
                        result = True
                        break
                if not result and self.fnmatch is not None:
                    for pattern in self.globs:
                        if self.fnmatch(cand, pattern):
                            result = True
                            break
                if result:
                    break
        self.verdicts[filename] = result
        return result

    def new_stream(self, index):
        stream = _Stream(index)
        self.streams.append(stream)
        return stream

    def take(self, stream, filename, line):
        """Yield the GIL at a decided visit, then draw the next gap."""
        if _dumping:
            return
        if _control is not None:
            # Controlled mode: every visit of a focus line is a scheduling point.
            stream.countdown = 1
            t = _control.me()
            if t is None and not _control.threads and _thread.get_ident() == _main_ident:
                t = _control.adopt_main("MainThread")
            if t is not None:
                _control.point(t, filename, line)
            return
        trace = self.trace
        if trace is not None:
            # Called at every visit; the decision falls at visit next_at.
            self.trace_count += 1
            entry = (self.trace_count, stream.index, filename, line, "line")
            trace.append(entry)
            if self.window_open:
                self.window_open -= 1
                self.windows[-1].append(entry)
            if stream.visits < stream.next_at:
                return
            stream.next_at = stream.visits + self.gap(stream)
        stream.yields += 1
        log = stream.log
        if log is not None and len(log) < self.LOG_LIMIT:
            log.append((stream.visits, filename, line))
        if trace is None:
            stream.countdown = self.gap(stream)
        # sleep(0) releases the GIL, but the releasing thread usually takes it back before
        # a woken waiter gets a CPU (measured: no lost update at all on a busy 2-core
        # machine). A real sleep of 1 us, which the kernel rounds up to its timer slack
        # (about 50 us), lets the other threads run. With no other thread there is
        # nobody to yield to, and the cheap sleep(0) keeps single-threaded code fast.
        if not self.other_threads():
            self.sleep(0)
            return
        # A yield costs more than its sleep: getting the GIL back can take up to a switch
        # interval. All of it counts against the budget; past the budget the yield point
        # does nothing.
        clock = self.clock
        start = clock()
        if self.slept > self.SLEEP_SHARE * (start - self.t0):
            self.budget_hits += 1
            return
        if trace is not None:
            self.trace_yield(stream, filename, line)
        if self.pins is not None:
            self.hand_over(stream)
        else:
            self.sleep(1e-6)
        self.slept += clock() - start

    def trace_yield(self, stream, filename, line):
        """Marks a yield actually taken in the trace, and keeps the visits around it."""
        trace = self.trace
        trace.append((self.trace_count, stream.index, filename, line,
                      "pinned yield" if self.pins is not None else "yield"))
        if len(self.windows) < self.TRACE_WINDOWS:
            n = min(len(trace), self.TRACE_BEFORE)
            self.windows.append([trace[i] for i in range(len(trace) - n, len(trace))])
            self.window_open = self.TRACE_AFTER

    def reset_trace(self):
        """A forked child starts its own trace."""
        if self.trace is not None:
            self.trace.clear()
            self.trace_count = 0
            self.windows = []
            self.window_open = 0

    HAND_OVER_LIMIT = 0.002     # seconds a pinned yield waits for another thread to move

    def hand_over(self, stream):
        """A pinned yield (minimize, replay --pins): a few pinned yields stand in for the
        hundreds of the run they came from, so each one makes sure the hand-over happens.
        It sleeps in short steps until another thread has run focus code, or up to
        HAND_OVER_LIMIT (the others may be blocked, or outside focus)."""
        def others():
            return sum(s.visits for s in self.streams if s is not stream)
        before = others()
        deadline = self.clock() + self.HAND_OVER_LIMIT
        while True:
            self.sleep(1e-6)
            if others() != before or self.clock() >= deadline:
                return

    def counters(self):
        visits = 0
        yields = 0
        for stream in list(self.streams):
            visits += stream.visits
            yields += stream.yields
        return visits, yields

    def write_log(self):
        # "<thread index>\t<file>:<line>\t<visit>\t<thread name>"; the header names the
        # process key, which with (thread, visit) identifies the decision for pins.
        lines = ["# racehunt-yields 1 key=%016x\n" % _process_key]
        for stream in sorted(self.streams, key=lambda s: s.index):
            if not stream.log:
                continue
            name = (stream.name or "").replace("\t", " ").replace("\n", " ")
            for visit, filename, line in stream.log:
                if line is None:
                    line = "?"
                lines.append("%d\t%s:%s\t%d\t%s\n" % (stream.index, _abs_file(filename), line, visit, name))
        data = "".join(lines).encode("utf-8", "replace")
        _write_atomically(os.path.join(_run_dir, "yields-%d.log" % _pid), data)

    def write_trace(self):
        """trace-<pid>.log: the traced visits in the format of a controlled schedule
        (docs/PROTOCOL.md), so the harness renders both alike."""
        if self.trace is None or _run_dir is None:
            return
        # The windows around the yields, then the last visits; each entry once, in order.
        # The same entry object can be in a window and in the tail; two visits of different
        # threads can share a step number (counted without a lock), so identity decides.
        seen = set()
        events = []
        for entry in [e for w in self.windows for e in w] + list(self.trace):
            if id(entry) not in seen:
                seen.add(id(entry))
                events.append(entry)
        events.sort(key=lambda e: (e[0], e[4] != "line"))
        out = ["# racehunt-trace 1 visits=%d kept=%d\n" % (self.trace_count, len(events))]
        for stream in sorted(self.streams, key=lambda s: s.index):
            out.append("# thread %d %s\n" % (stream.index, (stream.name or "").replace("\n", " ")))
        names = {}
        for step, index, filename, line, kind in events:
            name = names.get(filename)
            if name is None:
                name = names[filename] = _abs_file(filename)
            out.append("%d\t%d\t%s:%s\t%s\t0\n" % (step, index, name, line if line is not None else "?", kind))
        _write_atomically(os.path.join(_run_dir, "trace-%d.log" % _pid),
                          "".join(out).encode("utf-8", "replace"))


_tls = _thread._local()


def _write_control_log():
    """control-<pid>.log: the controlled schedule, step by step (docs/PROTOCOL.md)."""
    if _control is None or _run_dir is None:
        return
    try:
        data = _control.render_log(_abs_file).encode("utf-8", "replace")
        _write_atomically(os.path.join(_run_dir, "control-%d.log" % _pid), data)
    except Exception as exc:
        _warn("could not write the controlled schedule: %s: %s" % (type(exc).__name__, exc))


def _current_stream():
    try:
        return _tls.s
    except AttributeError:
        # A thread threading did not start (a _thread thread) or one that began before
        # we patched threading: its index is its first visit, not its creation order.
        stream = _yields.new_stream(next(_thread_counter))
        _tls.s = stream
        return stream


def _make_settrace_tracer(stream):
    """The global trace function of one thread (Python <= 3.12 without sys.monitoring).

    Returning None for code outside focus means that code runs untraced; only focus
    frames get the local tracer, which counts visits and yields on the decided ones.
    """
    y = _yields
    verdicts = y.verdicts
    compute = y.verdict
    take = y.take
    granularity = y.granularity

    if granularity == "call":
        def trace_call(frame, event, arg):
            filename = frame.f_code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if v:
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, filename, frame.f_lineno)
            return None
        return trace_call

    wanted = "opcode" if granularity == "opcode" else "line"

    def local(frame, event, arg):
        if event == wanted:
            stream.visits += 1
            stream.countdown -= 1
            if stream.countdown <= 0:
                take(stream, frame.f_code.co_filename, frame.f_lineno)
        return local

    if wanted == "opcode":
        def trace_opcode(frame, event, arg):
            filename = frame.f_code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if not v:
                return None
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return local
        return trace_opcode

    def trace_line(frame, event, arg):
        filename = frame.f_code.co_filename
        v = verdicts.get(filename)
        if v is None:
            v = compute(filename)
        return local if v else None
    return trace_line


def _line_of_offset(code, offset):
    try:
        for start, end, line in code.co_lines():
            if start <= offset < end:
                return line
    except Exception:
        pass
    return None


def _install_monitoring():
    """Python >= 3.12: sys.monitoring (PEP 669), one free tool id.

    PY_START is the only global event. For a code object outside focus its callback
    returns DISABLE, so that code never calls us again; for focus code it switches on
    LINE (or INSTRUCTION) events for that code object alone. The rest of the program
    runs at full speed.
    """
    mon = sys.monitoring
    tool = None
    for candidate in (4, 3):   # ids 0, 1, 2 and 5 are reserved for debuggers etc.
        if mon.get_tool(candidate) is None:
            try:
                mon.use_tool_id(candidate, "racehunt")
            except ValueError:
                continue
            tool = candidate
            break
    if tool is None:
        _warn("no free sys.monitoring tool id (3 and 4 are taken); Python yield points are off")
        return False
    y = _yields
    E = mon.events
    DISABLE = mon.DISABLE
    verdicts = y.verdicts
    compute = y.verdict
    take = y.take
    granularity = y.granularity
    tls = _tls
    current = _current_stream

    if granularity == "call":
        def on_start(code, offset):
            filename = code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if not v:
                return DISABLE
            try:
                stream = tls.s
            except AttributeError:
                stream = current()
            stream.visits += 1
            stream.countdown -= 1
            if stream.countdown <= 0:
                take(stream, filename, code.co_firstlineno)
            return None
        mon.register_callback(tool, E.PY_START, on_start)
    else:
        local_event = E.INSTRUCTION if granularity == "opcode" else E.LINE

        def on_start(code, offset):
            filename = code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if v:
                mon.set_local_events(tool, code, local_event)
            return DISABLE

        if granularity == "opcode":
            def on_local(code, offset):
                try:
                    stream = tls.s
                except AttributeError:
                    stream = current()
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename,
                         _line_of_offset(code, offset)
                         if stream.log is not None or y.trace is not None else None)
        else:
            def on_local(code, line):
                try:
                    stream = tls.s
                except AttributeError:
                    stream = current()
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename, line)

        mon.register_callback(tool, E.PY_START, on_start)
        mon.register_callback(tool, local_event, on_local)
    mon.set_events(tool, E.PY_START)
    return True


_real_settrace = None


def _guard_settrace(func):
    """Replacement of sys.settrace while racehunt traces: warn, then let the workload win.

    Tools such as coverage or a debugger own the trace function when they set it; racehunt
    does not fight them, it only records that its yield points stop in that thread.
    """
    try:
        stream = getattr(_tls, "s", None)
        if func is None or stream is None or func is not stream.tracer:
            _warn("the workload set its own trace function (sys.settrace(%s)); Python yield "
                  "points stop in the threads it covers" % _safe_repr(func, 200),
                  key="settrace")
    except Exception:
        pass
    return _real_settrace(func)


# ---------------------------------------------------------------------------------------
# threading integration, applied when the workload imports threading.

def _patch_threading(threading):
    global _threading_patched
    if _threading_patched:
        return
    Thread = threading.Thread
    orig_start = Thread.start
    orig_bootstrap_inner = Thread._bootstrap_inner
    orig_shutdown = threading._shutdown

    def start(self):
        # Creation order is decided in the starting thread, where the workload's own
        # order is deterministic, not in the new thread, where it races.
        if getattr(self, "_racehunt_index", None) is None:
            try:
                self._racehunt_index = next(_thread_counter)
            except Exception:
                pass
        return orig_start(self)

    def _bootstrap_inner(self):
        try:
            _thread_begins(self)
        except Exception as exc:
            _internal_error("thread start", exc)
        try:
            orig_bootstrap_inner(self)
        finally:
            try:
                _thread_ends(self)
            except Exception as exc:
                _internal_error("thread end", exc)

    def _shutdown():
        # CPython's finalisation looks up threading._shutdown by name (3.8-3.13) and
        # calls it once the main module returned or raised, before atexit handlers.
        first = not _main_done_written
        if _control is not None:
            # The main thread waits for the others outside the scheduler.
            _control.retire()
        if first:
            try:
                _write_main_done(threading)
            except Exception as exc:
                _internal_error("main_done", exc)
        result = orig_shutdown()
        if first:
            try:
                _after_join()
            except Exception as exc:
                _internal_error("invariants", exc)
        return result

    start.__wrapped__ = orig_start
    _bootstrap_inner.__wrapped__ = orig_bootstrap_inner
    _shutdown.__wrapped__ = orig_shutdown
    Thread.start = start
    Thread._bootstrap_inner = _bootstrap_inner
    threading._shutdown = _shutdown

    if _yields_mode == "settrace" and hasattr(threading, "settrace"):
        orig_threading_settrace = threading.settrace

        def settrace(func):
            _warn("the workload called threading.settrace(%s); threads it starts run without "
                  "Python yield points" % _safe_repr(func, 200), key="threading.settrace")
            return orig_threading_settrace(func)
        settrace.__wrapped__ = orig_threading_settrace
        threading.settrace = settrace
    if _control is not None:
        import _racehunt_control
        _racehunt_control.install(threading, _control, _thread.allocate_lock, _abs_file)
    _threading_patched = True
    # The main thread now has a threading name; the map shows it.
    try:
        _write_thread_map()
    except Exception as exc:
        _internal_error("thread map", exc)


def _thread_begins(thread):
    ident = _thread.get_ident()
    _started_at[ident] = round(time.time(), 6)
    if len(_names_seen) < 4096:
        _names_seen[_native_id()] = thread.name
    index = getattr(thread, "_racehunt_index", None)
    if index is None:
        index = next(_thread_counter)
    invoke = getattr(thread, "_invoke_excepthook", None)
    if invoke is not None:
        # Thread._bootstrap_inner calls this instance attribute with the exception active.
        # Wrapping it rather than threading.excepthook means exceptions are recorded even
        # when the workload (pytest does) swaps threading.excepthook, and the output of
        # whatever hook is in force stays exactly the same.
        def invoke_excepthook(t, _invoke=invoke):
            try:
                exc_type, exc, tb = sys.exc_info()
                _record_exception(exc_type, exc, tb, t.name, _thread.get_ident(), _native_id())
            except Exception as err:
                _internal_error("thread exception", err)
            return _invoke(t)
        thread._invoke_excepthook = invoke_excepthook
    if _yields is not None:
        stream = _yields.new_stream(index)
        stream.name = thread.name
        _tls.s = stream
        if _yields_mode == "settrace":
            stream.tracer = _make_settrace_tracer(stream)
            if sys.gettrace() is None:
                _real_settrace(stream.tracer)
    _write_thread_map(extra={"name": thread.name, "ident": ident, "native_id": _native_id(),
                             "daemon": bool(thread.daemon), "started_at": _started_at[ident]})


def _thread_ends(thread):
    ident = _thread.get_ident()
    _started_at.pop(ident, None)
    _write_thread_map(exclude=ident)


def _patch_asyncio(asyncio):
    """The asyncio layer (_racehunt_asyncio.py), once the asyncio package is imported."""
    try:
        import _racehunt_asyncio
        _racehunt_asyncio.install(asyncio, _config)
    except Exception as exc:
        _warn("racehunt could not patch asyncio: %s: %s" % (type(exc).__name__, exc))


class _ImportWatcher(object):
    """A meta path finder that patches a module right after it is executed: threading,
    asyncio. It removes itself once it has seen them all.

    Importing them ourselves would cost 2-4 ms (threading) or 20-30 ms (asyncio) in every
    process, most of which never use them; this finder costs one dictionary lookup per
    import until then.
    """

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        # Only looked up here: a find_spec() that probes for the module without importing
        # it must leave the patch armed. The loader takes it when the module executes.
        if name not in self.patches:
            return None
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if find is None or finder is self:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, self, name)
        return spec

    def take(self, name):
        """The patch for a module that is being executed, once; the watcher leaves
        sys.meta_path when it has none left."""
        patch = self.patches.pop(name, None)
        if not self.patches:
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
        return patch

    # Python 3.8-3.11 still consult this legacy method on some paths.
    def find_module(self, name, path=None):
        return None


class _PatchingLoader(object):
    def __init__(self, loader, watcher, name):
        self.loader = loader
        self.watcher = watcher
        self.name = name

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        # Put the real loader back first, so that the module looks exactly as if
        # we had not been there (linecache, importlib.reload and friends use it).
        try:
            module.__loader__ = self.loader
            module.__spec__.loader = self.loader
        except Exception:
            pass
        self.loader.exec_module(module)
        patch = self.watcher.take(self.name)
        if patch is None:
            return          # patched already (a second module object, importlib.reload)
        try:
            patch(module)
        except Exception as exc:
            _warn("racehunt could not patch %s: %s: %s"
                  % (module.__name__, type(exc).__name__, exc))

    def __getattr__(self, name):
        return getattr(self.loader, name)


# ---------------------------------------------------------------------------------------
# End of the main module, invariants, exit.

def _write_main_done(threading):
    global _main_done_written
    _main_done_written = True
    alive = []
    if threading is not None:
        try:
            main = threading.main_thread()
            for t in threading.enumerate():
                if t is main or t.daemon or not t.is_alive():
                    continue
                alive.append({"name": t.name, "ident": t.ident,
                              "native_id": getattr(t, "native_id", None), "daemon": False})
        except Exception as exc:
            _warn("could not list threads at main_done: %s: %s" % (type(exc).__name__, exc))
    _emit("main_done", {"threads": alive})


_memory_limit = None         # [check].max_memory_growth in bytes, root process only
_dumping = False             # the dump-signal handler is running: no yields


def _check_memory():
    """[check].max_memory_growth: Python memory still allocated when the main module has
    finished and its threads were joined, counted by tracemalloc from start-up; the
    `memory` event gives the total and the top allocation sites."""
    import tracemalloc
    if not tracemalloc.is_tracing():
        _warn("max_memory_growth was not checked: the workload stopped tracemalloc")
        return
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    ours = set(_OUR_FILES)
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, f) for f in ours] +
                                      [tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats)
    top = []
    for s in stats[:10]:
        frame = s.traceback[0]
        top.append([_abs_file(frame.filename), frame.lineno, s.size, s.count])
    _emit("memory", {"traced": total, "limit": _memory_limit, "exceeded": total > _memory_limit,
                     "top": top})


def _after_join():
    if _role == "root" and _memory_limit is not None:
        try:
            _check_memory()
        except Exception as exc:
            _warn("max_memory_growth could not be checked: %s: %s" % (type(exc).__name__, exc))
    if _role != "root" or not _invariants:
        return
    main = sys.modules.get("__main__")
    namespace = getattr(main, "__dict__", None)
    if namespace is None:
        namespace = {}
    for expr in _invariants:
        fields = {"expr": expr}
        if not isinstance(expr, str):
            fields.update(ok=False, error="TypeError: invariant is not a string")
            _emit("invariant", fields)
            continue
        try:
            # A code object, not the string: eval of a string goes through
            # PyRun_StringFlags, which makes the interpreter forget that the main module
            # ended with an uncaught KeyboardInterrupt (it would exit 1, not by SIGINT).
            value = eval(compile(expr, "<invariant>", "eval"), namespace)
        except Exception as exc:
            fields["ok"] = False
            fields["error"] = "%s: %s" % (type(exc).__name__, _exc_message(exc))
        else:
            fields["value"] = _safe_repr(value)
            try:
                fields["ok"] = bool(value)
            except Exception as exc:
                fields["ok"] = False
                fields["error"] = "%s: %s" % (type(exc).__name__, _exc_message(exc))
        if not fields.get("ok"):
            fields["threads"] = _all_threads()
            _add_loops(fields)
        _emit("invariant", fields)


def _at_exit():
    try:
        aio = sys.modules.get("_racehunt_asyncio")
        if aio is not None:
            try:
                aio.at_exit()
            except Exception as exc:
                _internal_error("asyncio exit", exc)
        if not _main_done_written:
            # threading was never imported (or its _shutdown was not reached): the main
            # module has returned all the same, and no threading thread can be alive.
            _write_main_done(sys.modules.get("threading") if _threading_patched else None)
            _after_join()
        if _yields is not None:
            if _yields_mode == "settrace":
                stream = getattr(_tls, "s", None)
                current = sys.gettrace()
                if stream is not None and current is not stream.tracer and "settrace" not in _warned:
                    _warn("the main thread's trace function was replaced (%s); Python yield "
                          "points stopped there" % _safe_repr(current, 200), key="settrace")
            _write_control_log()
            if _yields.log_enabled:
                try:
                    _yields.write_log()
                except Exception as exc:
                    _warn("could not write yields log: %s: %s" % (type(exc).__name__, exc))
            try:
                _yields.write_trace()
            except Exception as exc:
                _warn("could not write the trace: %s: %s" % (type(exc).__name__, exc))
        # Names of every thread that ran, by native id: the harness names the shim's
        # decisions with them (the thread map only holds the live ones).
        seen = dict(_names_seen)
        if _main_native_id is not None:
            seen.setdefault(_main_native_id, "MainThread")
        counters = _counters()
        if aio is not None:
            try:
                aio.write_log()
            except Exception as exc:
                _warn("could not write the loop log: %s: %s" % (type(exc).__name__, exc))
        _emit("exit", {"counters": counters,
                       "threads_seen": [[tid, name] for tid, name in seen.items()]})
    except Exception as exc:
        _internal_error("exit", exc)


def _counters():
    """The Python layers' counters, for the `exit` event (and `counters` on a dump)."""
    visits = yields = 0
    if _yields is not None:
        visits, yields = _yields.counters()
    counters = {"yield_points": visits, "yields": yields}
    if _yields is not None and _yields.budget_hits:
        counters["yields_over_budget"] = _yields.budget_hits
    aio = sys.modules.get("_racehunt_asyncio")
    if aio is not None:
        counters.update(aio.counters())
    if _control is not None:
        counters["control_steps"] = _control.steps
        counters["control_switches"] = _control.switches
        counters["control_lost"] = 1 if _control.lost is not None else 0
    return counters


def _excepthook(exc_type, exc, tb):
    try:
        ident = _thread.get_ident()
        _record_exception(exc_type, exc, tb, _thread_name(ident), ident, _native_id())
    except Exception as err:
        _internal_error("main exception", err)
    hook = _orig_excepthook or sys.__excepthook__
    return hook(exc_type, exc, tb)


# ---------------------------------------------------------------------------------------
# faulthandler.

_fault_user_owned = False


def _enable_faulthandler():
    global _fault_file, _dump_signal, _fault_user_owned
    import faulthandler
    old = _fault_file
    if old is None and faulthandler.is_enabled():
        _fault_user_owned = True
    if _fault_user_owned:
        # -X faulthandler or PYTHONFAULTHANDLER: the user wants crash stacks on stderr,
        # which the harness captures too; leave it alone.
        _warn("faulthandler was already enabled by the workload's settings; crash stacks go "
              "to its file (usually stderr), not to faulthandler-%d.txt" % _pid)
        _fault_file = open(os.path.join(_run_dir, "faulthandler-%d.txt" % _pid), "a")
    else:
        _fault_file = open(os.path.join(_run_dir, "faulthandler-%d.txt" % _pid), "a")
        faulthandler.enable(file=_fault_file, all_threads=True)
    if old is not None:
        try:
            old.close()
        except Exception:
            pass
    raw = os.environ.get("RACEHUNT_DUMP_SIGNAL")
    if raw:
        try:
            signum = int(raw)
            # Once per process image: a forked child inherits both handlers, and installing
            # the Python one again would displace faulthandler's, which register() would not
            # put back (it believes it is still installed).
            if _dump_signal is None and (_thread.get_ident() == _main_ident or _main_ident is None):
                import _signal
                _signal.signal(signum, _on_dump_signal)
            faulthandler.register(signum, file=_fault_file, all_threads=True, chain=True)
            _dump_signal = signum
        except Exception as exc:
            _warn("RACEHUNT_DUMP_SIGNAL=%r could not be registered: %s: %s"
                  % (raw, type(exc).__name__, exc))


# ---------------------------------------------------------------------------------------
# fork() without exec: multiprocessing's "fork" start method and plain os.fork.

def _before_fork():
    global _fork_count
    _fork_count += 1


def _after_fork_in_child():
    """The child is a new process of the run: own files, role child, own decision streams."""
    global _fd, _pid, _role, _process_key, _main_ident, _main_native_id, _map_lock
    global _main_done_written, _thread_counter, _fork_count
    try:
        old_fd = _fd
        _fd = -1
        _pid = os.getpid()
        _role = "child"
        # The fork number counts the parent's forks from 0; _before_fork already counted
        # this one.
        _process_key = _derive(_process_key, _fork_count - 1)
        _fork_count = 0
        _map_lock = _thread.allocate_lock()
        _main_ident = _thread.get_ident()
        _main_native_id = _native_id()
        _refresh_native_id()
        _main_done_written = False
        _started_at.clear()
        _started_at[_main_ident] = round(time.time(), 6)
        _names_seen.clear()
        import itertools
        _thread_counter = itertools.count(1)
        try:
            os.close(old_fd)
        except Exception:
            pass
        _fd = _open_events(_run_dir, _pid)
        aio = sys.modules.get("_racehunt_asyncio")
        if aio is not None:
            aio.after_fork()
        if _yields is not None:
            _yields.reset_trace()
            stream = getattr(_tls, "s", None)
            del _yields.streams[:]
            if stream is not None:
                stream.reset(0)
                _yields.streams.append(stream)
        try:
            _enable_faulthandler()
        except Exception as exc:
            _warn("faulthandler setup failed after fork: %s: %s" % (type(exc).__name__, exc))
        _emit("start", _start_fields(forked=True))
        thread = _thread_objects().get(_main_ident)
        name = thread.name if thread is not None else "MainThread"
        with _map_lock:
            _write_atomically(os.path.join(_run_dir, "threads-%d.json" % _pid), _dumps([
                {"name": name, "ident": _main_ident, "native_id": _main_native_id,
                 "daemon": False, "started_at": _started_at[_main_ident]}]))
    except Exception as exc:
        _internal_error("fork child", exc)


# ---------------------------------------------------------------------------------------
# install()

def _start_fields(forked=False):
    fields = {
        "pid": _pid,
        "ppid": os.getppid(),
        "role": _role,
        "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "executable": sys.executable,
        "argv": list(sys.argv) if hasattr(sys, "argv") else [],
        "switch_interval": sys.getswitchinterval(),
        "yields": _yields_mode,
        "process_key": "%016x" % _process_key,
    }
    if forked:
        fields["fork"] = True
    if _fork_server_command is not None:
        # A run forked by racehunt's fork server (or a fork of one): /proc/PID/cmdline is
        # the server's.
        fields["command"] = list(_fork_server_command)
    elif not forked:
        # The whole command line, interpreter first: sys.argv lacks the interpreter, and
        # under -m it is still ["-m", ...] this early. A dump reads it when the process is
        # gone.
        try:
            with open("/proc/self/cmdline", "rb") as f:
                data = f.read()
            if data:
                fields["command"] = [os.fsdecode(a) for a in data.rstrip(b"\0").split(b"\0")]
        except OSError:
            pass
    if _dump_signal is not None:
        fields["dump_signal"] = _dump_signal
    return fields


def _read_config(run_dir):
    with open(os.path.join(run_dir, "config.json"), "rb") as f:
        data = f.read().decode("utf-8")
    config = _loads(data)
    if not isinstance(config, dict):
        raise _JsonError("config.json is not an object")
    return config


def _section(config, name):
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def install():
    """Called by sitecustomize.py in every Python process that has RACEHUNT_PROTOCOL."""
    global _installed, _fd, _run_dir, _pid, _role, _config, _invariants, _process_key
    global _main_ident, _main_native_id, _thread_counter, _yields, _yields_mode, _control
    global _orig_excepthook, _real_settrace, _OUR_FILES, _OUR_DIR, _start_cwd, _memory_limit
    if _installed:
        return
    env = os.environ
    run_dir = env.get("RACEHUNT_RUN_DIR")
    if not run_dir:
        return
    _run_dir = run_dir
    _pid = os.getpid()
    try:
        _start_cwd = os.getcwd()
    except OSError:
        _start_cwd = None
    _fd = _open_events(run_dir, _pid)

    protocol = env.get("RACEHUNT_PROTOCOL")
    if protocol != str(PROTOCOL_VERSION):
        _emit("warning", {"message": "protocol_mismatch: the bootstrap speaks protocol %d, "
                                     "RACEHUNT_PROTOCOL is %r; racehunt does nothing in this "
                                     "process" % (PROTOCOL_VERSION, protocol),
                          "code": "protocol_mismatch"})
        os.close(_fd)
        _fd = -1
        return

    here = os.path.dirname(os.path.abspath(__file__))
    _OUR_DIR = here
    _OUR_FILES = (os.path.join(here, "racehunt.py"), os.path.join(here, "_racehunt_bootstrap.py"),
                  os.path.join(here, "_racehunt_forensics.py"),
                  os.path.join(here, "_racehunt_control.py"),
                  os.path.join(here, "_racehunt_server.py"),
                  os.path.join(here, "_racehunt_asyncio.py"),
                  __file__)

    try:
        _config = _read_config(run_dir)
    except Exception as exc:
        _warn("could not read config.json (%s: %s); using defaults: no switch interval, no "
              "invariants, no yield points" % (type(exc).__name__, exc))
        _config = {}
    if _config.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        _emit("warning", {"message": "protocol_mismatch: config.json has protocol %r"
                                     % (_config.get("protocol"),),
                          "code": "protocol_mismatch"})
        os.close(_fd)
        _fd = -1
        return

    # Role: the root process hands "child" down to every Python process it starts.
    _role = "root" if env.get("RACEHUNT_ROLE") == "root" else "child"
    if _role == "root":
        env["RACEHUNT_ROLE"] = "child"

    seed_text = _config.get("run_seed") or env.get("RACEHUNT_RUN_SEED") or "0"
    try:
        seed = int(str(seed_text), 16) & _MASK
    except ValueError:
        _warn("run seed %r is not hexadecimal; using 0" % (seed_text,))
        seed = 0
    if _role == "root":
        _process_key = seed
    else:
        _process_key = _fmix(seed ^ _fmix(_command_line_hash(getattr(sys, "argv", []))))

    interval = _config.get("switch_interval")
    if interval is not None:
        try:
            # CPython stores whole microseconds, truncating (3e-6 * 1e6 is 2.99...96, so
            # 2 us); racehunt plans whole microseconds, so aim at the middle of the one
            # planned.
            micros = round(float(interval) * 1e6)
            sys.setswitchinterval((micros + 0.5) / 1e6 if micros >= 1 else float(interval))
        except Exception as exc:
            _warn("switch interval %r rejected: %s: %s" % (interval, type(exc).__name__, exc))

    checks = _section(_config, "checks")
    invariants = checks.get("invariants") or []
    _invariants = list(invariants) if isinstance(invariants, list) else [invariants]
    limit = checks.get("max_memory_growth")
    if _role == "root" and isinstance(limit, int) and limit > 0:
        _memory_limit = limit
        import tracemalloc
        tracemalloc.start(1)

    import itertools
    _thread_counter = itertools.count(1)
    _main_ident = _thread.get_ident()
    _main_native_id = _native_id()
    _started_at[_main_ident] = round(time.time(), 6)

    _orig_excepthook = sys.excepthook
    sys.excepthook = _excepthook

    try:
        _enable_faulthandler()
    except Exception as exc:
        _warn("faulthandler setup failed: %s: %s" % (type(exc).__name__, exc))

    control = _section(_config, "control")
    if control and _role == "root":
        try:
            import _racehunt_control
            _control = _racehunt_control.Scheduler(
                _derive(_process_key, 0xC0), str(control.get("strategy") or "pct"),
                int(control.get("depth") or 3), int(control.get("pct_steps") or 10000),
                int(control.get("max_steps") or 200000),
                float(control.get("stall") or 2.0), _emit, _warn)
        except Exception as exc:
            _control = None
            _warn("controlled mode could not start (%s: %s); the run goes on in noise mode"
                  % (type(exc).__name__, exc))

    yields = _section(_config, "yields")
    try:
        probability = float(yields.get("probability") or 0.0)
    except (TypeError, ValueError):
        _warn("yields.probability %r is not a number; yield points are off"
              % (yields.get("probability"),))
        probability = 0.0
    granularity = yields.get("granularity") or "line"
    if granularity not in ("line", "opcode", "call"):
        _warn("unknown yields.granularity %r; using \"line\"" % (granularity,))
        granularity = "line"
    focus = yields.get("focus") or []
    if isinstance(focus, str):
        focus = [focus]
    trace = bool(yields.get("trace")) and _control is None
    if probability > 0.0 or (trace and focus):
        if not focus:
            _warn("yields.probability is set but yields.focus is empty; yield points are off")
        else:
            try:
                _setup_yields(min(probability, 1.0), granularity, focus, yields.get("log"),
                              yields.get("pins"), trace)
            except Exception as exc:
                _yields = None
                _yields_mode = "off"
                _warn("yield points could not be set up: %s: %s" % (type(exc).__name__, exc))

    watch = {}
    threading = sys.modules.get("threading")
    if threading is not None:
        _patch_threading(threading)
    else:
        watch["threading"] = _patch_threading
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        _patch_asyncio(asyncio)
    else:
        watch["asyncio"] = _patch_asyncio
    if watch:
        sys.meta_path.insert(0, _ImportWatcher(watch))

    import atexit
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)

    if "arm_python=1" in env.get("RACEHUNT_SHIM", "").split(":"):
        _arm_when_main_starts()

    _installed = True
    _emit("start", _start_fields())
    for message in _pending_warnings:
        _emit("warning", {"message": message})
    del _pending_warnings[:]
    if not _threading_patched:
        try:
            _write_thread_map()
        except Exception as exc:
            _warn("could not write the thread map: %s: %s" % (type(exc).__name__, exc))


def _parse_pins(entries):
    """config.json's yields.pins, [["<process key hex>", thread, visit], ...], as
    {process key: {thread: sorted visits}}; None when there are none (not pinned)."""
    if not isinstance(entries, list):
        return None
    pins = {}
    for entry in entries:
        try:
            key, thread, visit = int(entry[0], 16), int(entry[1]), int(entry[2])
        except (TypeError, ValueError, IndexError):
            _warn("yields.pins entry %r is malformed; ignored" % (entry,))
            continue
        pins.setdefault(key, {}).setdefault(thread, []).append(visit)
    for threads in pins.values():
        for visits in threads.values():
            visits.sort()
    return pins


def _setup_yields(probability, granularity, focus, log_enabled, pins=None, trace=False):
    global _yields, _yields_mode, _real_settrace
    _yields = _Yields(probability, granularity, focus, log_enabled, _parse_pins(pins), trace)
    main_stream = _yields.new_stream(0)
    _tls.s = main_stream
    if sys.version_info >= (3, 12) and hasattr(sys, "monitoring"):
        if _install_monitoring():
            _yields_mode = "monitoring"
        else:
            _yields = None
        return
    if sys.gettrace() is not None:
        _warn("a trace function is already set (%s); racehunt does not replace it, Python "
              "yield points are off" % _safe_repr(sys.gettrace(), 200))
        _yields = None
        return
    main_stream.tracer = _make_settrace_tracer(main_stream)
    _real_settrace = sys.settrace
    _real_settrace(main_stream.tracer)
    sys.settrace = _guard_settrace
    _yields_mode = "settrace"


# ---------------------------------------------------------------------------------------
# racehunt.check() support.

def record_check_failed(message, skip_frames=0):
    """Write `check_failed` with the stacks of all threads; see racehunt.check()."""
    if not _installed:
        return
    try:
        me = _thread.get_ident()
        _emit("check_failed", {
            "message": message if isinstance(message, str) else _safe_repr(message),
            "thread": _thread_name(me),
            "ident": me,
            "threads": _all_threads(),
            "loops": _failure_loops(),
        })
    except Exception as exc:
        _warn("racehunt.check could not record its failure: %s: %s" % (type(exc).__name__, exc))


def _failure_loops():
    """The asyncio loops' tasks for a failure report; [] when asyncio is not in use."""
    module = sys.modules.get("_racehunt_asyncio")
    if module is None:
        return []
    try:
        return module.failure_loops()
    except Exception as exc:
        _warn("could not list the asyncio tasks: %s: %s" % (type(exc).__name__, exc),
              key="failure_loops")
        return []


def _add_loops(fields):
    loops = _failure_loops()
    if loops:
        fields["loops"] = loops


def _all_threads(with_locks=False):
    """Every thread's name and stack at this moment (see _racehunt_forensics.snapshot);
    [] when that fails, so that a failure report is never lost over its stacks."""
    try:
        import _racehunt_forensics
        return _racehunt_forensics.snapshot(with_locks=with_locks)
    except Exception as exc:
        _warn("could not take the stacks of all threads: %s: %s" % (type(exc).__name__, exc),
              key="all_threads")
        return []


def _on_dump_signal(signum, frame):
    """Python half of the dump signal (faulthandler, registered with chain=True, writes
    the raw stacks first, from C, even when no Python code can run): names and lock
    relations of every thread, in pystacks-<pid>.json. Runs in the main thread as soon as
    it can run Python (a thread blocked in a lock acquire, join or sleep is woken for it)."""
    # Yield points traced through settrace would trace this handler's thousands of calls
    # too (measured: 200 ms instead of 20); it is the last thing the process does.
    global _dumping
    tracer = sys.gettrace() if _real_settrace is not None else None
    if tracer is not None:
        _real_settrace(None)
    _dumping = True
    try:
        import _racehunt_forensics
        _racehunt_forensics.write_pystacks("dump_signal")
        _write_control_log()
        if _yields is not None and _yields.log_enabled:
            _yields.write_log()   # a hung process never reaches its atexit
        if _yields is not None:
            _yields.write_trace()
        aio = sys.modules.get("_racehunt_asyncio")
        if aio is not None:
            aio.write_log()
        # A hung process never reaches its `exit` event: its counters so far.
        _emit("counters", {"counters": _counters()})
    except Exception as exc:
        _internal_error("dump signal", exc)
    finally:
        _dumping = False
        if tracer is not None:
            _real_settrace(tracer)
        # The harness kills the run once every signalled process has written this (or
        # after a deadline): all of the above is on disk by then.
        try:
            _write_atomically(os.path.join(_run_dir, "dumped-%d" % os.getpid()), b"")
        except OSError:
            pass
