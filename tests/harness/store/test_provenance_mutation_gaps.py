"""Gaps in the tests of `harness.provenance` found by a mutation audit.

Closed here (on a small project tree built in a temp folder):
- a dotted name with a part that is not an identifier is no module;
- relative imports: in a package's ``__init__.py`` ``.`` is the package itself, ``..`` goes one package up,
  ``from . import sub`` names the submodule;
- a plug-in registry that calls a bare ``import_module`` (imported from importlib) is followed too;
- importing ``a.b.c`` brings in its enclosing packages;
- a package's data files count for it, but not those inside a sub-package (they count for that one);
- a timing-table set that is a file, not a folder, is absent;
- a kind's code version covers the run machinery (`harness.executors` and what it imports) besides its module.
"""

from __future__ import annotations

from pathlib import Path

from harness.provenance import hash_modules, module_closure, module_code_version, module_file, table_set_hash


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_name_with_a_part_that_is_not_an_identifier_is_no_module(tmp_path):
    _tree(tmp_path, {"harness/__init__.py": "", "harness/foo-bar.py": "", "harness/ok.py": ""})
    assert module_file("harness.foo-bar", tmp_path) is None
    assert module_file("harness.ok", tmp_path) == tmp_path / "harness" / "ok.py"


def test_relative_imports_resolve_from_the_package_of_the_module(tmp_path):
    _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/top.py": "",
        "harness/pkg/__init__.py": "from .inner import thing\n",
        "harness/pkg/inner.py": "from .. import top\nfrom . import sibling\n",
        "harness/pkg/sibling.py": "",
        "harness/inner.py": "",  # where a '.' in pkg/__init__.py would wrongly point
    })
    assert module_closure(["harness.pkg"], tmp_path) == (
        "harness", "harness.pkg", "harness.pkg.inner", "harness.pkg.sibling", "harness.top")


def test_a_bare_import_module_call_makes_its_constants_imports(tmp_path):
    _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/registry.py": ("from importlib import import_module\n\n"
                                "def load(name):\n    return import_module(f'harness.plugins.{name}')\n\n"
                                "NAMES = ('alpha',)\n"),
        "harness/plugins/__init__.py": "",
        "harness/plugins/alpha.py": "",
        "harness/plugins/beta.py": "",
    })
    assert module_closure(["harness.registry"], tmp_path) == (
        "harness", "harness.plugins", "harness.plugins.alpha", "harness.registry")


def test_a_deep_module_brings_in_its_enclosing_packages(tmp_path):
    _tree(tmp_path, {"harness/__init__.py": "", "harness/a/__init__.py": "", "harness/a/b/__init__.py": "",
                     "harness/a/b/c.py": ""})
    assert module_closure(["harness.a.b.c"], tmp_path) == ("harness", "harness.a", "harness.a.b", "harness.a.b.c")


def test_data_files_of_a_sub_package_count_for_it_not_for_its_parent(tmp_path):
    _tree(tmp_path, {"harness/__init__.py": "", "harness/data/table.yaml": "a: 1\n",
                     "harness/sub/__init__.py": "", "harness/sub/extra.json": "{}\n"})
    parent = hash_modules(["harness"], tmp_path)
    child = hash_modules(["harness.sub"], tmp_path)
    (tmp_path / "harness" / "sub" / "extra.json").write_text('{"edited": true}\n')
    assert hash_modules(["harness"], tmp_path) == parent
    assert hash_modules(["harness.sub"], tmp_path) != child
    (tmp_path / "harness" / "data" / "table.yaml").write_text("a: 2\n")  # a plain data folder of the package
    assert hash_modules(["harness"], tmp_path) != parent


def test_a_kinds_code_version_covers_the_run_machinery():
    modules = module_code_version("harness.errors").modules
    assert {"harness.errors", "harness.executors", "harness.store", "harness.non_finite"} <= set(modules)


def test_a_table_set_that_is_a_file_is_absent(tmp_path):
    (tmp_path / "cpu").write_text("not a folder\n")
    assert table_set_hash("cpu", tmp_path) == "absent"
