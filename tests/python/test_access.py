"""The access table of controlled mode: what each line reads and writes."""
import textwrap

from _racehunt.access import line_accesses


def table_of(tmp_path, source):
    path = tmp_path / "w.py"
    path.write_text(textwrap.dedent(source))
    return line_accesses(str(path))


def test_attributes_globals_and_containers_but_not_locals(tmp_path):
    table = table_of(tmp_path, """\
        counter = 0
        cache = {}
        def work(self, key):
            global counter
            local = self.balance
            self.balance = local + 1
            counter += 1
            cache[key] = local
            items.append(key)
            return cache.get(key)
        """)
    assert table[5] == [("r", ".balance", "self.balance")]
    assert table[6] == [("w", ".balance", "self.balance")]
    assert set(table[7]) == {("r", "counter", "counter"), ("w", "counter", "counter")}
    assert ("w", "cache", "cache") in table[8]
    assert ("w", "items", "items") in table[9]
    assert ("r", "cache", "cache") in table[10]
    assert all(key != "local" for row in table.values() for _, key, _ in row)
    assert all(key not in ("key", "self") for row in table.values() for _, key, _ in row)


def test_queue_get_takes_an_item_dict_get_reads(tmp_path):
    table = table_of(tmp_path, """\
        def f(q, d):
            q.get(timeout=1)
            d.get("k")
            q.get(True)
            self.q.get()
        """)
    assert table.get(2) is None                  # q is a parameter: local
    assert table.get(3) is None
    assert ("w", ".q", "self.q") in table[5]


def test_an_unreadable_file_has_no_table(tmp_path):
    assert line_accesses(str(tmp_path / "missing.py")) == {}
    (tmp_path / "bad.py").write_text("def (:\n")
    assert line_accesses(str(tmp_path / "bad.py")) == {}
