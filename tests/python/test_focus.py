"""Focus matching: which files' code Python yield points act in."""
import os
import sys

import pytest

from conftest import INJECTORS, PACKAGE
from _racehunt.focus import Focus


@pytest.fixture
def tree(tmp_path, process_state):
    process_state.our_dir = str(INJECTORS)
    process_state.package_dir = str(PACKAGE)
    process_state.our_files = (str(INJECTORS / "racehunt.py"), str(PACKAGE / "focus.py"))
    process_state.start_cwd = str(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "bank.py").write_text("x = 1\n")
    (tmp_path / "app" / "sub").mkdir()
    (tmp_path / "app" / "sub" / "deep.py").write_text("y = 2\n")
    (tmp_path / "other.py").write_text("z = 3\n")
    return tmp_path


def test_a_file_a_directory_and_nothing_else(tree):
    focus = Focus([str(tree / "other.py"), str(tree / "app")])
    assert focus.verdict(str(tree / "other.py"))
    assert focus.verdict(str(tree / "app" / "sub" / "deep.py"))
    assert not focus.verdict(str(tree / "app2.py"))
    assert not focus.verdict(str(tree / "appendix" / "a.py"))      # a prefix, not a directory
    assert not focus.verdict("<string>")
    assert focus.verdicts[str(tree / "other.py")] is True         # cached for the callers


def test_relative_file_names_are_resolved_against_the_start_directory(tree):
    focus = Focus([str(tree / "other.py")])
    assert focus.verdict("other.py")


def test_a_symbolic_link_matches_its_target(tree):
    os.symlink(str(tree / "app"), str(tree / "link"))
    assert Focus([str(tree / "app")]).verdict(str(tree / "link" / "bank.py"))
    assert Focus([str(tree / "link")]).verdict(str(tree / "app" / "bank.py"))


def test_globs_match_the_absolute_path(tree):
    focus = Focus(["glob:*/sub/*.py"])
    assert focus.verdict(str(tree / "app" / "sub" / "deep.py"))
    assert not focus.verdict(str(tree / "app" / "bank.py"))


def test_a_module_is_resolved_once_imported(tree, monkeypatch):
    monkeypatch.syspath_prepend(str(tree / "app"))
    focus = Focus(["module:bank"])
    assert not focus.verdict(str(tree / "other.py"))
    assert focus.modules == ["bank"]                            # not imported yet
    import bank
    try:
        assert focus.verdict(str(tree / "app" / "bank.py"))
        assert focus.modules == []
    finally:
        del sys.modules["bank"]


def test_racehunts_own_files_are_never_in_focus_even_with_everything_in_it(tree):
    focus = Focus(["/"])
    assert focus.verdict(str(tree / "other.py"))
    assert not focus.verdict(str(PACKAGE / "yields.py"))
    assert not focus.verdict(str(INJECTORS / "sitecustomize.py"))


def test_empty_and_malformed_entries_are_ignored(tree):
    focus = Focus(["", None, 3, str(tree / "other.py")])
    assert len(focus.paths) == 1
    assert focus.verdict(str(tree / "other.py"))


def test_a_module_name_matches_its_frozen_code_and_its_submodules(tree):
    # 3.11+ runs os, importlib.util and others from frozen code named "<frozen NAME>".
    focus = Focus(["module:importlib", "module:os"])
    assert focus.verdict("<frozen os>")
    assert focus.verdict("<frozen importlib.util>")
    assert focus.verdict("<frozen importlib._bootstrap>")
    assert not focus.verdict("<frozen ossaudiodev>")       # a prefix, not a submodule
    assert not focus.verdict("<frozen zipimport>")
    assert not Focus([str(tree / "app")]).verdict("<frozen os>")


def test_entries_that_matched_no_code_are_reported_in_order(tree):
    focus = Focus(["module:nosuchmodule", str(tree / "app"), "glob:*/other.py", "module:os",
                   str(tree / "missing.py")])
    assert focus.unmatched() == focus.entries
    focus.verdict(str(tree / "app" / "bank.py"))
    focus.verdict("<frozen os>")
    assert focus.unmatched() == ["module:nosuchmodule", "glob:*/other.py", str(tree / "missing.py")]
    # One file can satisfy two entries: both count as matched.
    focus.verdict(str(tree / "other.py"))
    assert focus.unmatched() == ["module:nosuchmodule", str(tree / "missing.py")]
