"""Focus matching: is the code of a file in the scenario's `focus`, where Python yield
points act? Entries are paths (a file, or a directory and all below it), `glob:PATTERN`
(fnmatch on the absolute path) and `module:NAME` (the files of an importable module,
resolved once it is imported, and its frozen code: `<frozen NAME>`, which is how 3.11+
names the code of os, importlib.util and the other modules it freezes). Each entry
remembers whether any code that ran matched it, for the warning about entries that
matched nothing. Python 3.8 syntax only.
"""
import os

from . import events
from . import state


class Focus(object):
    def __init__(self, focus):
        self.verdicts = {}       # file name as the code object has it -> in focus?
        self.paths = []          # (normalised absolute file or directory prefix, is_dir, entry)
        self.globs = []          # (pattern, entry)
        self.modules = []        # unresolved module names
        self.module_names = []   # every module name, for frozen code
        self.entries = []
        self.matched = set()     # entries that matched code that ran
        for entry in focus:
            if not isinstance(entry, str) or not entry:
                continue
            self.entries.append(entry)
            if entry.startswith("glob:"):
                self.globs.append((entry[5:], entry))
            elif entry.startswith("module:"):
                self.modules.append(entry[7:])
                self.module_names.append(entry[7:])
            else:
                self.add_path(entry, entry=entry)
        self.fnmatch = None
        if self.globs:
            import fnmatch
            self.fnmatch = fnmatch.fnmatchcase

    def add_path(self, path, is_dir=None, entry=None):
        forms = set()
        for form in (os.path.normpath(os.path.abspath(path)),
                     os.path.realpath(path)):
            forms.add(form)
        for form in forms:
            if is_dir is None:
                is_dir_here = path.endswith("/") or os.path.isdir(form)
            else:
                is_dir_here = is_dir
            self.paths.append((form.rstrip("/") + "/", True, entry) if is_dir_here else (form, False, entry))

    def resolve_modules(self):
        """Turn `module:NAME` entries into paths once the module is importable or imported.

        A module's code first runs while it is being imported, and by then it is in
        sys.modules with its __file__, so resolving lazily at each new file name never
        misses a file of the module. `python -m NAME` runs the module as __main__ with
        __spec__.name == NAME, which is checked too.
        """
        still = []
        main = state.loaded("__main__")
        main_spec = getattr(main, "__spec__", None)
        for name in self.modules:
            module = state.loaded(name)
            if module is None and main_spec is not None and getattr(main_spec, "name", None) == name:
                module = main
            file = getattr(module, "__file__", None) if module is not None else None
            path = getattr(module, "__path__", None) if module is not None else None
            if path is not None:
                try:
                    for directory in list(path):
                        self.add_path(directory, True, "module:" + name)
                except Exception:
                    pass
                if file:
                    self.add_path(os.path.dirname(file), True, "module:" + name)
            elif file:
                self.add_path(file, False, "module:" + name)
            else:
                still.append(name)
        self.modules = still

    def verdict(self, filename):
        """Is code from this file in focus? Cached per file name by the callers."""
        result = False
        if filename and filename.startswith("<frozen ") and filename.endswith(">"):
            frozen = filename[8:-1]
            for name in self.module_names:
                if frozen == name or frozen.startswith(name + "."):
                    self.matched.add("module:" + name)
                    result = True
        elif filename and not filename.startswith("<"):
            if self.modules:
                self.resolve_modules()
            absolute = events.abs_file(filename)
            if ours(absolute):
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
                for path, is_dir, entry in self.paths:
                    if (cand.startswith(path) if is_dir else cand == path):
                        self.matched.add(entry)
                        result = True
                if self.fnmatch is not None:
                    for pattern, entry in self.globs:
                        if self.fnmatch(cand, pattern):
                            self.matched.add(entry)
                            result = True
        self.verdicts[filename] = result
        return result


    def unmatched(self):
        """The entries no code that ran has matched so far, in the scenario's order."""
        return [e for e in self.entries if e not in self.matched]


def ours(absolute):
    """A file of racehunt's own: the entry modules or this package."""
    directory = os.path.dirname(absolute)
    return absolute in state.our_files or directory == state.our_dir \
        or directory == state.package_dir
