"""The API reference builds from the docstrings (pdoc, the `docs` extra)."""

import os
import subprocess
import sys

import helpers


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
