"""The README: it links every guide, and its quickstart runs as written."""

import os
import subprocess
import sys

import pytest

import helpers

def test_readme_links_every_guide_and_the_quickstart_is_short():
  readme = helpers.read('README.md')
  for document in helpers.DOCS:
    if os.path.dirname(document) in ('docs', os.path.join('docs', 'guides')):
      assert document in readme, document
  quickstart = readme.split('## Quickstart')[1].split('```python\n')[1]
  assert len(quickstart.split('```')[0].strip().splitlines()) <= 15


@pytest.mark.slow
def test_quickstart_runs_and_prints_the_exact_value(tmp_path):
  """The README's quickstart runs as written and prints F beside the exact
  -ln Z; its wall time is measured by `benchmarks/quickstart.py`."""
  code = helpers.read('README.md').split('## Quickstart')[1].split(
      '```python\n')[1].split('```')[0]
  done = subprocess.run(
      [sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
      text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert done.returncode == 0, done.stderr[-3000:]
  last_line = done.stdout.strip().splitlines()[-1]
  free_energy = float(last_line.split('F = ')[1].split(',')[0])
  assert -148.655 < free_energy < -140.   # A bound, and a trained flow.
  assert last_line.endswith('exact -ln Z = -148.655')
