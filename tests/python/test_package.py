"""The shape of the _racehunt package: core modules import no layer, no module imports
itself back through another, no file is over 600 lines, and the installer's list of
racehunt's own files (hidden from stacks, never in focus) is the package's."""
import ast

from conftest import INJECTORS, PACKAGE
from _racehunt import installer

CORE = {"protocol", "config", "jsonio", "seeds", "state", "hooks", "events"}


def imports_of(path):
    """The package modules a module imports, at its top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:
                found.update(alias.name for alias in node.names)
            elif node.level == 1:
                found.add(node.module.split(".")[0])
            elif node.module == "_racehunt":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("_racehunt."))
    return found


def graph():
    return {p.stem: imports_of(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def test_core_modules_import_only_core_modules():
    g = graph()
    assert CORE <= set(g)
    for module in CORE:
        assert g[module] <= CORE, (module, g[module] - CORE)


def test_only_the_fork_server_imports_the_installer():
    assert {m for m, deps in graph().items() if "installer" in deps} == {"server"}


def test_no_import_cycle():
    g = graph()
    done, path = set(), []

    def visit(module):
        assert module not in path, "import cycle: %s" % " -> ".join(path + [module])
        if module in done:
            return
        path.append(module)
        for dep in g.get(module, ()):
            visit(dep)
        path.pop()
        done.add(module)
    for module in g:
        visit(module)


def test_no_file_over_600_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in INJECTORS.rglob("*.py")}
    assert sizes and max(sizes.values()) <= 600, sorted(sizes.items(), key=lambda x: -x[1])[:3]


def test_the_installer_knows_every_file_of_the_package():
    assert set(installer._PACKAGE_FILES) == {p.name for p in PACKAGE.glob("*.py")}
    assert all((INJECTORS / f).is_file() for f in installer._ENTRY_FILES)
