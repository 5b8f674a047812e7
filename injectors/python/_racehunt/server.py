"""racehunt's fork server (`[run] start = "fork-server"`): one interpreter that starts once,
imports the installer and the scenario's `preload` modules, then forks every run.

racehunt runs the entry script `python _racehunt_server.py`, which calls main(), with a connected
SOCK_SEQPACKET socket at the descriptor named by RACEHUNT_FORK_SERVER. docs/PROTOCOL.md
("Fork server") is the contract; in short, each message is one JSON object:

  racehunt -> server  {"hello": {"argv": [...], "cwd": "...", "preload": [...]}}
  server -> racehunt  {"ready": {"pid": N}} | {"error": "...", "module": "name"}
  racehunt -> server  {"run": {"argv": [...], "env": {...}, "cwd": "...", limits...}}
                      with the run's stdout and stderr descriptors attached (SCM_RIGHTS)
  server -> racehunt  {"forked": PID} | {"refused_run": "reason"} | {"refused": "reason"}
                      then {"exit": PID, "status": RAW_WAIT_STATUS}

A run is a child of this server that becomes what `python SCRIPT ARGS` or `python -m MODULE
ARGS` would have been: its own process group, the run's environment (set in the server
before the fork, so that the preload shim's fork handler reads the run's options), working
directory, stdio, sys.argv and sys.path[0], a new `__main__`, and the bootstrap installed as
sitecustomize installs it in a fresh interpreter. It ends with the interpreter's own exit
steps (see _finish), never by returning here.

The server forks only while it is the process's single thread: a preload that starts one is
refused at start, and a thread that appears later makes the server refuse runs.

What a run finds in sys.modules: what a fresh start has, the preloads, and what the
bootstrap imports when it sets up yield points (a fresh run with yield points imports the
same). The server's own tools (_socket unless a preload needs it, ctypes) are taken out
of sys.modules in the run, so a workload that imports them gets them as a fresh run does.
Python 3.8 syntax only.
"""

import os
import sys
import _socket

from . import installer
from . import jsonio
from . import protocol
from . import seeds
from . import state
# What the installer imports in a run that yields (the common case), so that no run pays
# for it: the yield points' backends and the shim's arming.
from . import backends  # noqa: F401
from . import shim  # noqa: F401

_MAX_MESSAGE = 1 << 20
_INSTALL_IMPORTS = ("itertools", "atexit", "faulthandler", "_signal", "math", "collections",
                      "bisect", "fnmatch")
_SHIM_FINISH = None   # the preload shim's racehunt_shim_finish, through ctypes
_FFLUSH = None        # libc's fflush: C stdio buffers, which exit() would flush
_SERVER_ONLY = []     # modules only the server needs: not in a run's sys.modules
_SERVER_MODULES = frozenset()  # what sys.modules held when the server became ready
_OWN_FILES = (__file__,)  # this module and the entry script: not in a run's traceback


def _send(sock, obj):
    sock.send(jsonio.dumps(obj))


def _receive(sock):
    """One message and the descriptors attached to it; (None, []) once racehunt is gone."""
    data, ancdata, flags, _addr = sock.recvmsg(_MAX_MESSAGE, _socket.CMSG_SPACE(16))
    fds = []
    for level, kind, payload in ancdata:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            for i in range(0, len(payload) - len(payload) % 4, 4):
                fds.append(int.from_bytes(payload[i:i + 4], sys.byteorder))
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    message = jsonio.loads(data.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a message is not a JSON object")
    return message, fds


def _threads():
    """Names of the process's threads other than this one ([] when it is alone): the
    threading name where threading knows the thread, else the kernel's."""
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return []
    me = str(os.getpid())
    known = {}
    threading = state.loaded("threading")
    if threading is not None:
        try:
            for t in threading.enumerate():
                if getattr(t, "native_id", None) is not None:
                    known[str(t.native_id)] = t.name
        except Exception:
            pass
    names = []
    for tid in tids:
        if tid == me:
            continue
        if tid in known:
            names.append(known[tid])
            continue
        try:
            with open("/proc/self/task/%s/comm" % tid, "rb") as f:
                names.append("%s (native)" % (f.read().decode("utf-8", "replace").strip() or tid))
        except OSError:
            names.append(tid)
    return names


def _path0(argv, cwd):
    """sys.path[0] as the interpreter computes it for `python SCRIPT` (the directory of the
    script, after following the script's own symbolic links) or `python -m` (the working
    directory)."""
    if len(argv) > 2 and argv[1] == "-m":
        return os.getcwd()
    path = argv[1]
    if os.path.islink(path):
        link = os.readlink(path)
        path = link if os.path.isabs(link) else os.path.join(os.path.dirname(path), link)
    return os.path.dirname(path)


def _set_path0(argv, cwd):
    # -P / PYTHONSAFEPATH (3.11+): the interpreter put no such entry in sys.path.
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = _path0(argv, cwd)


def _set_environ(env):
    environ = os.environ
    for key in list(environ):
        if key not in env:
            del environ[key]
    for key, value in env.items():
        if environ.get(key) != value:
            environ[key] = value


def _own_argv0():
    """The interpreter's argv[0] as the kernel has it. racehunt may have started a wrapper
    (a pyenv shim execs the real interpreter with another argv[0]); the same wrapper
    started fresh would give a run this argv[0], and the preload shim hashes the command
    line it sees."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().split(b"\0")[0]
    except OSError:
        return None


_ARGV0 = None


def _fnv1a64(argv):
    parts = [os.fsencode(a) for a in argv]
    if _ARGV0 is not None and parts:
        parts[0] = _ARGV0
    return seeds.fnv1a64(b"".join(p + b"\0" for p in parts))


def _start(sock):
    message, fds = _receive(sock)
    for fd in fds:
        os.close(fd)
    hello = message.get("hello") if message else None
    if not isinstance(hello, dict):
        raise ValueError("the first message is not a hello")
    argv, cwd = hello["argv"], hello["cwd"]
    os.chdir(cwd)
    _set_path0(argv, cwd)
    early = _threads()
    if early:
        _send(sock, {"error": "the interpreter runs %d thread(s) before any preload (%s), "
                              "started by a sitecustomize or .pth file" % (len(early), ", ".join(early)),
                     "module": "sitecustomize"})
        return False
    for name in hello.get("preload") or []:
        try:
            __import__(name)
        except BaseException as exc:
            _send(sock, {"error": "preload \"%s\" could not be imported: %s: %s"
                                  % (name, type(exc).__name__, exc), "module": name})
            return False
        started = _threads()
        if started:
            _send(sock, {"error": "preload \"%s\" started %d thread(s) (%s); a fork server must "
                                  "be single-threaded when it forks" % (name, len(started),
                                                                        ", ".join(started)),
                         "module": name})
            return False
    # What install() imports in a run that yields (the common case), so that no run pays
    # for it: a fresh run of such a scenario has them in sys.modules too.
    for name in _INSTALL_IMPORTS:
        try:
            __import__(name)
        except ImportError:
            pass
    # Every object so far is the server's: out of the collector's reach, so that a run's
    # collections (and the one at exit) do not write to, and copy, the server's pages.
    global _SHIM_FINISH, _FFLUSH, _SERVER_ONLY
    before = set(sys.modules)
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        _FFLUSH = libc.fflush
        _SHIM_FINISH = libc.racehunt_shim_finish
        _SHIM_FINISH.restype = None
    except Exception:
        _SHIM_FINISH = None
    _SERVER_ONLY = sorted((set(sys.modules) - before) & {"ctypes", "_ctypes", "ctypes._endian"})
    if "socket" not in sys.modules:
        _SERVER_ONLY.append("_socket")
    import gc
    gc.collect()
    gc.freeze()
    global _SERVER_MODULES
    _SERVER_MODULES = frozenset(sys.modules)
    sys.stdout.flush()
    sys.stderr.flush()
    _send(sock, {"ready": {"pid": os.getpid()}})
    return True


def main(entry_file):
    """The server's loop; `entry_file` is the script racehunt started, whose frames, like
    this module's, are left out of a run's traceback."""
    global _ARGV0, _OWN_FILES
    _OWN_FILES = (__file__, entry_file)
    _ARGV0 = _own_argv0()
    fd = int(os.environ[protocol.ENV_FORK_SERVER])
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, fd)
    os.set_inheritable(fd, False)
    if not _start(sock):
        os._exit(2)
    while True:
        message, fds = _receive(sock)
        if message is None:
            os._exit(0)
        run = message.get("run")
        if not isinstance(run, dict) or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            _send(sock, {"refused": "malformed run request"})
            continue
        others = _threads()
        if others:
            for fd in fds:
                os.close(fd)
            _send(sock, {"refused": "the server is no longer single-threaded (%s)"
                                    % ", ".join(others)})
            continue
        problem = _run_problem(run)
        if problem:
            for fd in fds:
                os.close(fd)
            _send(sock, {"refused_run": problem})
            continue
        try:
            env = dict(run["env"])
            env[protocol.ENV_FORK_ARGV_HASH] = "%016x" % _fnv1a64(run["argv"])
            _set_environ(env)
            pid = os.fork()
        except Exception as exc:
            # Out of processes or memory (the run's limits, the machine's): this run starts
            # fresh, which reports it as a fresh start does; the server lives on.
            for fd in fds:
                os.close(fd)
            _send(sock, {"refused_run": "%s: %s" % (type(exc).__name__, exc)})
            continue
        if pid == 0:
            _child(sock, run, fds)  # ends the process; never returns
            os._exit(70)
        for fd in fds:
            os.close(fd)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child did it first, or is gone already
        _send(sock, {"forked": pid})
        # Report the status before reaping the child: should this server die in between,
        # the child stays a zombie, is re-parented to racehunt and reaped there, and its
        # status is not lost.
        _send(sock, {"exit": pid, "status": _wait_status(pid)})
        os.waitpid(pid, 0)


def _wait_status(pid):
    """The child's wait status (as waitpid would give it) once it has ended, leaving it
    unreaped (WNOWAIT)."""
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        except InterruptedError:
            continue
        if info is None:
            continue
        if info.si_code == os.CLD_EXITED:
            return (info.si_status & 0xFF) << 8
        if info.si_code == os.CLD_DUMPED:
            return (info.si_status & 0x7F) | 0x80
        return info.si_status & 0x7F  # CLD_KILLED


def _apply_limits(run):
    """[run] max_processes and memory_limit, as a fresh start applies them before exec."""
    path = run.get("cgroup_procs")
    if path:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    if run.get("nproc") or run.get("memory_limit"):
        import resource
        if run.get("nproc"):
            resource.setrlimit(resource.RLIMIT_NPROC, (run["nproc"], run["nproc"]))
        if run.get("memory_limit"):
            resource.setrlimit(resource.RLIMIT_AS, (run["memory_limit"], run["memory_limit"]))


def _run_problem(run):
    """What would make the run fail to start (racehunt then starts it fresh, which reports
    it as a fresh start does), or None."""
    argv, cwd = run.get("argv"), run.get("cwd")
    if not isinstance(argv, list) or len(argv) < 2 or not isinstance(cwd, str):
        return "malformed run request"
    if not os.path.isdir(cwd):
        return "the working directory %s is not a directory" % cwd
    if argv[1] != "-m" and not os.path.isfile(argv[1]):
        return "the script %s is not a file" % argv[1]
    return None


def _child(sock, run, fds):
    """The run. Everything here before the workload is what a fresh interpreter did before
    running the main module; any failure of it ends the run with status 70 (EX_SOFTWARE),
    which racehunt reports as its own error."""
    try:
        sock.close()
        os.setpgid(0, 0)
        _apply_limits(run)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.pop(protocol.ENV_FORK_ARGV_HASH, None)
        state.refresh_native_id()
        argv = [str(a) for a in run["argv"]]
        cwd = run["cwd"]
        os.chdir(cwd)
        _set_path0(argv, cwd)
        for name in _SERVER_ONLY:
            sys.modules.pop(name, None)
        if hasattr(sys, "orig_argv"):
            sys.orig_argv = [sys.orig_argv[0] if sys.orig_argv else argv[0]] + argv[1:]
        main_module = type(sys)("__main__")
        main_module.__dict__["__builtins__"] = sys.modules["builtins"]
        sys.modules["__main__"] = main_module
        if len(argv) > 2 and argv[1] == "-m":
            sys.argv = ["-m"] + argv[3:]
        else:
            sys.argv = argv[1:]
        state.fork_server_command = argv
        installer.install()
    except BaseException as exc:
        try:
            os.write(2, ("racehunt fork server: the run could not be set up: %s: %s\n"
                         % (type(exc).__name__, exc)).encode("utf-8", "replace"))
        finally:
            os._exit(70)
    status, sigint = 0, False
    try:
        if len(argv) > 2 and argv[1] == "-m":
            import runpy
            runpy._run_module_as_main(argv[2])
        else:
            _run_script(main_module, argv[1])
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException:
        status, sigint = _report_uncaught()
    _finish(status, sigint)


def _exit_status(exc):
    """The exit status the interpreter gives an uncaught SystemExit (printing a message
    that is not a number, as it does)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write("%s\n" % (code,))
    except Exception:
        pass
    return 1


def _finish(status, sigint):
    """The interpreter's exit, in the order Py_FinalizeEx takes it: non-daemon threads
    joined (threading._shutdown), atexit handlers, standard streams flushed, the modules
    torn down, the streams flushed again; then C stdio flushed and the shim's exit step, as
    exit() would. Only the run's own modules are torn down (`__main__` and what the run
    imported, whose objects live on the run's own pages), so objects they hold are
    finalised (files flushed and closed, __del__ methods run); the server's modules are
    left alone, since tearing them down writes to, and so copies, every page of the
    server's heap (75 -> 27 ms per run of a workload importing asyncio, json, decimal,
    email and concurrent.futures). When any other thread is still alive (a daemon thread,
    or one a C extension started), the full interpreter exit runs instead: that is where
    daemon threads crash, and such a crash is the workload's outcome."""
    threading = state.loaded("threading")
    if threading is not None:
        threading._shutdown()
    import atexit
    atexit._run_exitfuncs()
    if _threads() and not sigint:
        raise SystemExit(status)
    if not _flush_std_streams():
        status = 120
    import gc
    import _weakref
    run_modules = ["__main__"] + [n for n in list(sys.modules) if n not in _SERVER_MODULES and n != "__main__"]
    survivors = []
    for name in reversed(run_modules):
        module = sys.modules.pop(name, None)
        if module is not None:
            try:
                survivors.append(_weakref.ref(module))
            except TypeError:
                pass
        module = None
    # As finalize_modules does: the original standard streams are put back, and the
    # ones the workload installed go with its objects.
    for name in ("stdin", "stdout", "stderr"):
        try:
            setattr(sys, name, getattr(sys, "__%s__" % name))
        except Exception:
            pass
    gc.collect()
    for ref in survivors:
        module = ref()
        if module is not None:
            try:
                module.__dict__.clear()
            except Exception:
                pass
        module = None
    gc.collect()
    if not _flush_std_streams():
        status = 120
    if _FFLUSH is not None:
        _FFLUSH(None)
    if _SHIM_FINISH is not None:
        _SHIM_FINISH()
    if sigint:
        import _signal
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGINT)
    os._exit(status)


def _flush_std_streams():
    """sys.stdout then sys.stderr, skipping closed ones, as the interpreter flushes them at
    exit; False when one failed (the exit status then becomes 120)."""
    ok = True
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if stream is None or getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except Exception as exc:
            ok = False
            if name == "stdout":
                try:
                    sys.__stderr__.write("Exception ignored in: %r\n%s: %s\n"
                                         % (stream, type(exc).__name__, exc))
                except Exception:
                    pass
    return ok


def _run_script(module, path):
    # What the interpreter does for `python PATH`: __file__, no __cached__, a source loader,
    # the file compiled as a whole (coding cookie honoured) without our future flags.
    module.__file__ = path
    module.__cached__ = None
    loader_class = getattr(state.loaded("_frozen_importlib_external"), "SourceFileLoader", None)
    if loader_class is not None:
        module.__loader__ = loader_class("__main__", path)
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    exec(code, module.__dict__)


def _report_uncaught():
    """An exception escaped the main module: print it as the interpreter would (through
    sys.excepthook, with this file's frames left out) and give the exit status."""
    exc_type, exc, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename in _OWN_FILES:
        tb = tb.tb_next
    if exc is not None:
        exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = exc_type, exc, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    try:
        sys.excepthook(exc_type, exc, tb)
    except BaseException as hook_exc:
        # As the interpreter reports a failing excepthook.
        try:
            import traceback
            sys.stderr.write("Error in sys.excepthook:\n")
            hook_tb = hook_exc.__traceback__
            while hook_tb is not None and hook_tb.tb_frame.f_code.co_filename in _OWN_FILES:
                hook_tb = hook_tb.tb_next
            traceback.print_exception(type(hook_exc), hook_exc, hook_tb, chain=False)
            sys.stderr.write("\nOriginal exception was:\n")
            traceback.print_exception(exc_type, exc, tb)
        except Exception:
            pass
    del exc, tb
    # The interpreter ends by SIGINT after an uncaught KeyboardInterrupt.
    return 1, issubclass(exc_type, KeyboardInterrupt)
