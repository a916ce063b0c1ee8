"""The README's and the docs' Python examples run as written; the API page
names every public name."""

import glob
import os
import re
import subprocess
import sys

import pytest

import helpers

DOCUMENTS = ['README.md'] + sorted(
    os.path.relpath(path, helpers.ROOT) for path in glob.glob(
        os.path.join(helpers.ROOT, 'docs', '**', '*.md'), recursive=True))


def read(document):
  with open(os.path.join(helpers.ROOT, document)) as f:
    return f.read()


def python_blocks():
  """`(document, index, code)` of every ```python block of the docs (the
  README's one block, the quickstart, has a timed test of its own)."""
  return [(document, index, code) for document in DOCUMENTS[1:]
          for index, code in enumerate(re.findall(
              r'```python\n(.*?)```', read(document), flags=re.DOTALL))]


def test_api_page_documents_the_public_api():
  """Every public name of `tfp_nrg` and its subpackages is in docs/api.md."""
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  api = read(os.path.join('docs', 'api.md'))
  missing = [name for name in tfp_nrg.__all__ if '`{}'.format(name) not in
             api and '.{}'.format(name) not in api]
  for module in ('adaptation', 'bijectors', 'distributions', 'evaluation',
                 'mcmc', 'runs', 'targets', 'training', 'checkpoints',
                 'hooks', 'stats', 'observables', 'rg', 'transfer'):
    missing += ['{}.{}'.format(module, name)
                for name in getattr(tfp_nrg, module).__all__
                if '{}.{}'.format(module, name) not in api]
  assert not missing, 'docs/api.md does not mention {}'.format(missing)


def test_readme_links_every_guide_and_the_quickstart_is_short():
  readme = read('README.md')
  for document in DOCUMENTS[1:]:
    if os.path.dirname(document) in ('docs', os.path.join('docs', 'guides')):
      assert document in readme, document
  quickstart = readme.split('## Quickstart')[1].split('```python\n')[1]
  assert len(quickstart.split('```')[0].strip().splitlines()) <= 15


@pytest.mark.slow
def test_quickstart_runs_and_prints_the_exact_value(tmp_path):
  """The README's quickstart runs as written and prints F beside the exact
  -ln Z; its wall time is measured by `benchmarks/quickstart.py`."""
  code = read('README.md').split('## Quickstart')[1].split(
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


@pytest.mark.slow
@pytest.mark.parametrize('document,index,code', python_blocks(),
                         ids=lambda v: v if isinstance(v, (str, int)) and
                         not str(v).startswith(('import', '\n')) else '')
def test_docs_example_runs(document, index, code, tmp_path):
  del index  # In the test's id.
  done = subprocess.run(
      [sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
      text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert done.returncode == 0, '{}: {}'.format(document, done.stderr[-3000:])
