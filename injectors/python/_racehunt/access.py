"""What each line of a source file reads and writes, from its syntax tree: the table
controlled mode prints under its schedule (control-<pid>.log, `# access` lines), so that a
reader sees which steps touched the same data. Python 3.8 syntax only."""

# Calls that change the object they are called on (list, dict, set, deque, Queue).
_MUTATORS = frozenset((
    "append", "extend", "insert", "pop", "remove", "clear", "update", "add", "discard",
    "setdefault", "popitem", "appendleft", "extendleft", "popleft", "rotate", "sort",
    "reverse", "put", "put_nowait", "get", "get_nowait", "__setitem__", "__delitem__"))


def line_accesses(path):
    """{line: [(rw, key, text)]}: the shared-looking data each line of a source file reads
    ("r") or writes ("w"), from its syntax tree.

    Shared-looking: attributes (`self.balance`, keyed by the attribute name ".balance",
    since the object is not known before run time), names of the module or declared
    global/nonlocal, and containers changed in place (`cache[k] = v`, `items.append(x)`
    write the container). A function's own locals are left out. This is syntax, not
    run-time identity: two objects with an attribute of the same name share a key.
    """
    import ast
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except Exception:
        return {}
    table = {}

    def add(node, rw, key, text):
        entry = (rw, key, text)
        row = table.setdefault(node.lineno, [])
        if entry not in row:
            row.append(entry)

    def text_of(node):
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return "%s.%s" % (text_of(node.value) or "(...)", node.attr)
        if isinstance(node, ast.Subscript):
            return "%s[...]" % (text_of(node.value) or "(...)")
        return None

    def scope_names(body_nodes):
        """(names bound in this function's own scope, names it declares global/nonlocal);
        nested functions and classes are their own scopes (only their names bind here)."""
        stored, declared = set(), set()
        for top in body_nodes:
            stack = [top]
            while stack:
                n = stack.pop()
                if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                    stored.add(n.id)
                elif isinstance(n, (ast.Global, ast.Nonlocal)):
                    declared.update(n.names)
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    stored.add(n.name)
                    continue
                elif isinstance(n, ast.Lambda):
                    continue
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    for alias in n.names:
                        stored.add((alias.asname or alias.name).split(".")[0])
                elif isinstance(n, ast.ExceptHandler) and n.name:
                    stored.add(n.name)
                stack.extend(ast.iter_child_nodes(n))
        return stored, declared

    class Visitor(ast.NodeVisitor):
        def __init__(self):
            self.local = [set()]        # module level: nothing is local

        def shared(self, name):
            return name not in self.local[-1]

        def function(self, node):
            a = node.args
            params = [x.arg for x in getattr(a, "posonlyargs", []) + a.args + a.kwonlyargs]
            params += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
            for d in a.defaults + [d for d in a.kw_defaults if d is not None]:
                self.visit(d)
            for d in getattr(node, "decorator_list", []):
                self.visit(d)
            body = node.body if isinstance(node.body, list) else [node.body]
            stored, declared = scope_names(body)
            self.local.append((set(params) | stored) - declared)
            for n in body:
                self.visit(n)
            self.local.pop()

        visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = function

        def visit_Name(self, node):
            if self.shared(node.id):
                add(node, "r" if isinstance(node.ctx, ast.Load) else "w", node.id, node.id)

        def visit_Attribute(self, node):
            add(node, "r" if isinstance(node.ctx, ast.Load) else "w", "." + node.attr, text_of(node))
            self.visit(node.value)

        def container(self, node):
            """The key and text of a container changed in place, or None."""
            if isinstance(node, ast.Attribute):
                return "." + node.attr, text_of(node)
            if isinstance(node, ast.Name) and self.shared(node.id):
                return node.id, node.id
            return None

        def visit_Subscript(self, node):
            if not isinstance(node.ctx, ast.Load):
                c = self.container(node.value)
                if c:
                    add(node, "w", c[0], c[1])
            self.generic_visit(node)

        def visit_AugAssign(self, node):
            target = node.target
            if isinstance(target, ast.Name) and self.shared(target.id):
                add(target, "r", target.id, target.id)
            elif isinstance(target, ast.Attribute):
                add(target, "r", "." + target.attr, text_of(target))
            self.generic_visit(node)

        def visit_Call(self, node):
            f = node.func
            if not isinstance(f, ast.Attribute):
                self.generic_visit(node)
                return
            # A method call reads its object, or writes it when the method changes it in
            # place. dict.get(key) reads; Queue.get() (no argument, a bool, block= or
            # timeout=) takes an item out.
            mutates = f.attr in _MUTATORS
            if f.attr in ("get", "get_nowait") and node.args:
                first = node.args[0]
                mutates = isinstance(first, ast.Constant) and isinstance(first.value, bool)
            if f.attr in ("get", "get_nowait") and any(k.arg in ("block", "timeout") for k in node.keywords):
                mutates = True
            c = self.container(f.value)
            if c:
                add(node, "w" if mutates else "r", c[0], c[1])
            self.visit(f.value)
            for n in node.args + [k.value for k in node.keywords]:
                self.visit(n)

    Visitor().visit(tree)
    return table
