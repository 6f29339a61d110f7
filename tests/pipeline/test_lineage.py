"""Code fingerprints: only the modules a user function can reach at import time count."""
import sys

import pytest

from pipeline.lineage import code_fingerprint, user_code_modules


def _names(paths):
    return {p.split("/components/")[-1] for p in paths}


def test_project_user_code_reaches_only_its_modules():
    label = {"lib/__init__.py", "lib/label.py"}  # the typed label the user code reads
    assert _names(user_code_modules("components.user.preprocessing.preprocessing_fn")) == {
        "__init__.py", "user/__init__.py", "user/preprocessing.py", *label}
    assert _names(user_code_modules("components.user.model.run_fn")) == {
        "__init__.py", "user/__init__.py", "user/model.py", "user/preprocessing.py", *label}


@pytest.fixture
def userpkg(tmp_path, monkeypatch):
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from userpkg import lazy\n")
    (pkg / "fn.py").write_text("from . import helper\nfrom userpkg.deep import value\n\n"
                               "def run():\n    return helper.x + value\n")
    (pkg / "helper.py").write_text("x = 1\n")
    (pkg / "deep.py").write_text("value = 2\n")
    (pkg / "lazy.py").write_text("y = 3\n")
    (pkg / "other.py").write_text("z = 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in [m for m in sys.modules if m.startswith("userpkg")]:
        del sys.modules[name]


def test_edits_to_reachable_modules_change_the_fingerprint(userpkg):
    before = code_fingerprint("userpkg.fn.run")
    assert {p.rsplit("/", 1)[-1] for p in user_code_modules("userpkg.fn.run")} == {
        "__init__.py", "fn.py", "helper.py", "deep.py"}
    (userpkg / "other.py").write_text("z = 5\n")
    (userpkg / "lazy.py").write_text("y = 6\n")
    assert code_fingerprint("userpkg.fn.run") == before
    (userpkg / "deep.py").write_text("value = 7\n")
    assert code_fingerprint("userpkg.fn.run") != before
