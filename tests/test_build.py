"""The Bazel BUILD file lists every module and test, and nothing stale."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


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
  assigned = {
      node.targets[0].id: ast.literal_eval(node.value)
      for node in tree.body
      if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
  }
  return calls, assigned


def test_library_lists_every_module():
  calls, _ = build_calls()
  srcs = ast.literal_eval(calls[('py_library', 'tfp_nrg')]['srcs'])
  modules = sorted(str(p.relative_to(ROOT))
                   for p in (ROOT / 'tfp_nrg').rglob('*.py'))
  assert sorted(srcs) == modules


def test_every_test_module_is_a_py_test():
  calls, assigned = build_calls()
  tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'tests').glob(
      'test_*.py'))
  assert sorted(assigned['TESTS']) == tests
  helpers = ast.literal_eval(calls[('py_library', 'test_helpers')]['srcs'])
  assert sorted(helpers) == ['tests/conftest.py', 'tests/helpers.py']


def test_examples_and_benchmarks_are_listed():
  """Scripts (those calling `app.run`) are binaries; other files libraries."""
  calls, _ = build_calls()
  for folder in ('examples', 'benchmarks'):
    for path in (ROOT / folder).glob('*.py'):
      kind = 'py_binary' if 'app.run(' in path.read_text() else 'py_library'
      rule = calls.get((kind, path.stem))
      assert rule is not None, '{} has no {}'.format(path, kind)
      assert ast.literal_eval(rule['srcs']) == [
          str(path.relative_to(ROOT))]


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
