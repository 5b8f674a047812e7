"""The work of sitecustomize.py, in a module so that its bytecode can be cached.

run() does two things and nothing else:

1. It runs the sitecustomize that ours shadows (Debian's python3 ships one in
   /usr/lib/python3.X, users and virtualenvs have their own), so that the workload sees
   the same start-up as without racehunt. The shadowed module becomes
   sys.modules["sitecustomize"].
2. When RACEHUNT_PROTOCOL is set, it imports _racehunt.installer and calls install().

Nothing here may raise into the interpreter: a failure of racehunt must never change
what the workload does, so errors are written as `warning` events when possible.
Python 3.8 syntax only.
"""


def run():
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))

    def same_dir(entry):
        # sys.path entries may be relative or symlinked; compare resolved paths so that
        # our own directory is skipped however PYTHONPATH spelled it.
        try:
            return os.path.realpath(os.path.abspath(entry or os.curdir)) == \
                os.path.realpath(here)
        except Exception:
            return False

    def chain_user_sitecustomize():
        # The import system's own path finder is in sys.modules from the very start
        # (it is frozen into the interpreter); importlib.machinery re-exports the same
        # class, and importing it costs milliseconds on older versions, so use it only
        # when the frozen module is somehow absent.
        finder = getattr(sys.modules.get("_frozen_importlib_external"), "PathFinder", None)
        if finder is None:
            from importlib.machinery import PathFinder as finder
        path = [p for p in sys.path if isinstance(p, str) and not same_dir(p)]
        spec = finder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        module = type(sys)(spec.name)
        module.__spec__ = spec
        module.__loader__ = spec.loader
        module.__package__ = ""
        if spec.origin is not None and spec.has_location:
            module.__file__ = spec.origin
        if getattr(spec, "cached", None):
            module.__cached__ = spec.cached
        if spec.submodule_search_locations is not None:
            module.__path__ = spec.submodule_search_locations
            module.__package__ = spec.name
        # The import that is running us takes whatever sys.modules["sitecustomize"] holds
        # when we return, so the user's module replaces ours for everybody who looks.
        sys.modules["sitecustomize"] = module
        try:
            spec.loader.exec_module(module)
        except Exception as err:
            # Report it the way site.py reports a failing sitecustomize, then carry on:
            # racehunt must still install itself.
            if isinstance(err, ImportError) and getattr(err, "name", None) == "sitecustomize":
                return
            if sys.flags.verbose:
                sys.excepthook(*sys.exc_info())
            else:
                try:
                    sys.stderr.write(
                        "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                        "%s: %s\n" % (err.__class__.__name__, err))
                except Exception:
                    pass

    def emergency_warning(message):
        # Used only when the bootstrap itself cannot be imported or crashed, so it must
        # not depend on it: a hand-escaped JSON line appended to this process's file.
        run_dir = os.environ.get("RACEHUNT_RUN_DIR")
        if not run_dir:
            return
        out = []
        for ch in message:
            code = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif code < 0x20 or code > 0x7E:
                out.append("\\u%04x" % code if code < 0xD800 or 0xDFFF < code < 0x10000 else "?")
            else:
                out.append(ch)
        line = '{"event":"warning","message":"%s"}\n' % "".join(out)
        fd = os.open(os.path.join(run_dir, "py-%d.jsonl" % os.getpid()),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("ascii"))
        finally:
            os.close(fd)

    try:
        chain_user_sitecustomize()
    except Exception as exc:
        if os.environ.get("RACEHUNT_PROTOCOL") is not None:
            try:
                emergency_warning("racehunt could not chain to the user's sitecustomize: "
                                  "%s: %s" % (type(exc).__name__, exc))
            except Exception:
                pass

    if os.environ.get("RACEHUNT_PROTOCOL") is None:
        return
    try:
        # sitecustomize.py imports us with bytecode writing on; see the note there.
        saved = sys.dont_write_bytecode
        sys.dont_write_bytecode = False
        try:
            from _racehunt import installer
        finally:
            sys.dont_write_bytecode = saved
        installer.install()
    except Exception as exc:
        try:
            emergency_warning("racehunt bootstrap failed to install: %s: %s"
                              % (type(exc).__name__, exc))
        except Exception:
            pass
