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


def test_readme_documents_the_public_api():
  """Every public name of `tfp_nrg` and its subpackages is in the README."""
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  with open(os.path.join(helpers.ROOT, 'README.md')) as f:
    readme = f.read()
  missing = [name for name in tfp_nrg.__all__ if '`{}'.format(name) not in
             readme and '.{}'.format(name) not in readme]
  for module in ('adaptation', 'bijectors', 'distributions', 'evaluation',
                 'mcmc', 'runs',
                 'targets', 'training', 'checkpoints', 'hooks', 'stats',
                 'observables', 'rg'):
    missing += ['{}.{}'.format(module, name)
                for name in getattr(tfp_nrg, module).__all__
                if '{}.{}'.format(module, name) not in readme]
  assert not missing, 'README does not mention {}'.format(missing)
  assert len(readme_python_blocks()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize('index', range(len(readme_python_blocks())))
def test_readme_example_runs(index, tmp_path):
  done = subprocess.run(
      [sys.executable, '-c', readme_python_blocks()[index]], cwd=tmp_path,
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert done.returncode == 0, done.stderr[-3000:]
