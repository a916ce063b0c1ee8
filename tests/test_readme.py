"""The README's Python examples run as written."""

import os
import re
import subprocess
import sys

import pytest

import helpers


def readme_python_blocks():
  with open(os.path.join(helpers.ROOT, 'README.md')) as f:
    return re.findall(r'```python\n(.*?)```', f.read(), flags=re.DOTALL)


def test_readme_has_python_examples():
  assert len(readme_python_blocks()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize('index', range(len(readme_python_blocks())))
def test_readme_example_runs(index, tmp_path):
  done = subprocess.run(
      [sys.executable, '-c', readme_python_blocks()[index]], cwd=tmp_path,
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert done.returncode == 0, done.stderr[-3000:]
