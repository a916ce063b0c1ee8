"""The Bazel BUILD file lists every module, test, example and benchmark with
the third-party packages each one imports, and nothing stale."""

import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Top-level import name -> the requirement (PyPI name) that provides it.
PACKAGES = {
    'absl': 'absl-py',
    'matplotlib': 'matplotlib',
    'numpy': 'numpy',
    'pytest': 'pytest',
    'tensorflow': 'tensorflow',
    'tensorflow_probability': 'tensorflow-probability',
}
# Libraries of the examples and benchmarks (files without `app.run`), e.g.
# training_flags.
EXAMPLE_LIBRARIES = {path.stem
                     for folder in ('examples', 'benchmarks')
                     for path in (ROOT / folder).glob('*.py')
                     if "if __name__ == '__main__':" not in path.read_text()}
LOCAL = {'tfp_nrg', 'helpers', 'conftest'} | EXAMPLE_LIBRARIES
# Needed at run time without being imported: tf.summary's implementation,
# and the Keras TFP 0.25's distributions use.
RUNTIME_ONLY = {'tensorboard', 'tf-keras'}


def build_calls():
  """The BUILD file's rule calls, parsed as Python (Starlark's syntax)."""
  tree = ast.parse((ROOT / 'BUILD').read_text(), filename='BUILD')
  calls = {}
  for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
      keywords = {k.arg: k.value for k in node.keywords}
      name = keywords.get('name')
      if isinstance(name, ast.Constant):
        calls[(node.func.id, name.value)] = keywords
      elif node.func.id == 'py_test':
        calls[('py_test', '*')] = keywords  # The comprehension over TESTS.
  assigned = {
      node.targets[0].id: ast.literal_eval(node.value)
      for node in tree.body
      if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
  }
  return calls, assigned


def deps_of(rule):
  """`(local targets, requirements)` named in a rule's `deps`."""
  local, required = set(), set()
  for item in rule['deps'].elts:
    if isinstance(item, ast.Constant):
      local.add(item.value.lstrip(':'))
    else:
      required.add(item.args[0].value)
  return local, required


def available(calls, rule):
  """Requirements a rule has, directly or through its local deps."""
  local, required = deps_of(rule)
  for name in local:
    required |= available(calls, calls[('py_library', name)])
  return required


def third_party_imports(paths):
  """Requirements the files import; fails on an import nobody mapped."""
  found = set()
  for path in paths:
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom) and node.level == 0:
        names = [node.module]
      else:
        continue
      for name in names:
        top = name.split('.')[0]
        if top in LOCAL or top in sys.stdlib_module_names:
          continue
        assert top in PACKAGES, '{} imports {}, unknown to BUILD'.format(
            path, top)
        found.add(PACKAGES[top])
  return found


def test_library_lists_every_module():
  calls, _ = build_calls()
  srcs = ast.literal_eval(calls[('py_library', 'tfp_nrg')]['srcs'])
  modules = sorted(str(p.relative_to(ROOT))
                   for p in (ROOT / 'tfp_nrg').rglob('*.py'))
  assert sorted(srcs) == modules


def test_library_declares_what_it_imports_and_setup_installs_it():
  calls, _ = build_calls()
  library = calls[('py_library', 'tfp_nrg')]
  _, required = deps_of(library)
  imported = third_party_imports(ROOT / p for p in ast.literal_eval(
      library['srcs']))
  assert required == imported | RUNTIME_ONLY
  setup = (ROOT / 'setup.py').read_text()
  for name in required - {'tf-keras'}:  # tf-keras comes with the [tf] extra.
    assert re.search(r"'{}[>=<\[]".format(re.escape(name)), setup), name
  lock = (ROOT / 'requirements_lock.txt').read_text().lower()
  for name in required:
    assert re.search(r'^{}=='.format(re.escape(name).replace('\\-', '[-_]')),
                     lock, flags=re.MULTILINE), name


def test_every_test_module_is_a_py_test():
  calls, assigned = build_calls()
  tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'tests').glob(
      'test_*.py'))
  assert sorted(assigned['TESTS']) == tests
  helpers = ast.literal_eval(calls[('py_library', 'test_helpers')]['srcs'])
  assert sorted(helpers) == ['tests/conftest.py', 'tests/helpers.py']
  imported = third_party_imports(ROOT / p for p in tests + helpers)
  assert imported <= available(calls, calls[('py_test', '*')])


def test_examples_and_benchmarks_are_listed_with_their_imports():
  """Scripts (those run as `__main__`) are binaries; other files libraries."""
  calls, _ = build_calls()
  for folder in ('examples', 'benchmarks'):
    for path in (ROOT / folder).glob('*.py'):
      kind = ('py_binary' if "if __name__ == '__main__':" in path.read_text()
              else 'py_library')
      rule = calls.get((kind, path.stem))
      assert rule is not None, '{} has no {}'.format(path, kind)
      assert ast.literal_eval(rule['srcs']) == [
          str(path.relative_to(ROOT))]
      missing = third_party_imports([path]) - available(calls, rule)
      assert not missing, '{} imports {} without a dep'.format(path, missing)
      for library in EXAMPLE_LIBRARIES:
        if 'import {}\n'.format(library) in path.read_text():
          assert library in deps_of(rule)[0], (
              '{} imports {} without a dep'.format(path, library))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
