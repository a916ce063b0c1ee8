"""The docs: their Python examples run as written, docs/api.md names every
public name, and the API reference builds from the docstrings (pdoc, the
`docs` extra)."""

import os
import re
import subprocess
import sys

import pytest

import helpers


def python_blocks(document):
  """The ```python blocks of `document` (the README's one block, the
  quickstart, has a test of its own)."""
  return re.findall(r'```python\n(.*?)```', helpers.read(document),
                    flags=re.DOTALL)


def test_api_page_documents_the_public_api():
  """Every public name of `tfp_nrg` and its subpackages is in docs/api.md."""
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  api = helpers.read(os.path.join('docs', 'api.md'))
  missing = [name for name in tfp_nrg.__all__ if '`{}'.format(name) not in
             api and '.{}'.format(name) not in api]
  for module in ('adaptation', 'bijectors', 'distributions', 'evaluation',
                 'mcmc', 'runs', 'targets', 'training', 'checkpoints',
                 'hooks', 'stats', 'observables', 'rg', 'transfer'):
    missing += ['{}.{}'.format(module, name)
                for name in getattr(tfp_nrg, module).__all__
                if '{}.{}'.format(module, name) not in api]
  assert not missing, 'docs/api.md does not mention {}'.format(missing)


@pytest.mark.slow
@pytest.mark.parametrize('document', [document for document in helpers.DOCS
                                      if python_blocks(document)])
def test_docs_examples_run(document, tmp_path):
  """Each block runs as written (`python -c`), in order, in one process."""
  blocks = python_blocks(document)
  for index, done in enumerate(helpers.run_examples(
      *[('-c', code) for code in blocks], cwd=tmp_path)):
    assert done.returncode == 0, '{} block {}: {}'.format(
        document, index, done.stderr[-3000:])


def test_api_reference_builds(tmp_path):
  """`python -m pdoc tfp_nrg -o DIR` succeeds and writes a page per module,
  each with its docstring's first line."""
  done = subprocess.run(
      [sys.executable, '-m', 'pdoc', 'tfp_nrg', '-o', str(tmp_path)],
      cwd=helpers.ROOT, capture_output=True, text=True, timeout=600,
      check=False, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert done.returncode == 0, done.stderr[-3000:]
  for page, names in (
      ('tfp_nrg.html', ('DualIsing', 'neural_rg', 'export')),
      ('tfp_nrg/evaluation.html', ('EvaluationResults', 'log_z_warning')),
      ('tfp_nrg/targets.html', ('DualIsing', 'from_coupling_matrix')),
      ('tfp_nrg/mcmc.html', ('GlobalLocal', 'pareto_shape')),
      ('tfp_nrg/bijectors.html', ('ContinuousFlow', 'MERA'))):
    html = (tmp_path / page).read_text()
    missing = [name for name in names if name not in html]
    assert not missing, (page, missing)
