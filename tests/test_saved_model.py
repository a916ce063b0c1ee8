"""`tfp_nrg.export`: SavedModels that run with TensorFlow alone."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfp_nrg

# Runs in a fresh interpreter that imports TensorFlow only.
LOADER = textwrap.dedent('''
    import sys
    import numpy as np
    import tensorflow as tf
    path, x_path, out = sys.argv[1:]
    sampler = tf.saved_model.load(path)
    n, seed = tf.constant(5), tf.constant([1, 2])
    both = sampler.sample_and_log_prob(n, seed)
    serving = sampler.signatures['log_prob'](x=tf.constant(np.load(x_path)))
    np.savez(out, sample=sampler.sample(n, seed)['x'],
             log_prob=sampler.log_prob(tf.constant(np.load(x_path)))[
                 'log_prob'],
             serving_log_prob=serving['log_prob'],
             both_x=both['x'], both_log_prob=both['log_prob'])
    assert not any(m.startswith(('tfp_nrg', 'tensorflow_probability'))
                   for m in sys.modules), 'imported more than TensorFlow'
''')


@pytest.mark.parametrize('dtype,z2', [(tf.float32, 'equivariant'),
                                      (tf.float64, 'mixture')])
def test_export_runs_without_tfp_nrg_and_gives_identical_outputs(tmp_path,
                                                                   dtype, z2):
  # The equivariant case ends with a `FourierScale` too (FFTs in the export).
  model = tfp_nrg.neural_rg(4, num_couplings=2, hidden_units=(8,),
                            dtype=dtype, z2_equivariant=z2 == 'equivariant',
                            fourier_scale=z2 == 'equivariant')
  if z2 == 'mixture':
    model = tfp_nrg.Symmetrized(model)
  helpers.randomize_variables(model, scale=0.4)
  path = tfp_nrg.export(model, str(tmp_path / 'model'))
  x = np.random.default_rng(0).standard_normal([3, 4, 4]).astype(
      dtype.as_numpy_dtype)
  np.save(tmp_path / 'x.npy', x)
  done = subprocess.run(
      [sys.executable, '-c', LOADER, path, str(tmp_path / 'x.npy'),
       str(tmp_path / 'out.npz')], capture_output=True, text=True,
      timeout=300, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  out = np.load(tmp_path / 'out.npz')
  seed = tf.constant([1, 2])
  expected_x = tf.function(lambda: model.sample(5, seed=seed))()
  np.testing.assert_array_equal(out['sample'], expected_x)
  expected_log_prob = tf.function(lambda: model.log_prob(x))()
  np.testing.assert_array_equal(out['log_prob'], expected_log_prob)
  np.testing.assert_array_equal(out['serving_log_prob'], expected_log_prob)
  both_x, both_log_prob = tf.function(
      lambda: model.experimental_sample_and_log_prob(5, seed=seed))()
  np.testing.assert_array_equal(out['both_x'], both_x)
  np.testing.assert_array_equal(out['both_log_prob'], both_log_prob)
  # The log-density of the exported draws is the model's.
  np.testing.assert_allclose(model.log_prob(tf.constant(out['both_x'])),
                             out['both_log_prob'], rtol=1e-5)


def test_export_refuses_existing_paths_and_non_distributions(tmp_path):
  model = tfp_nrg.neural_rg(4, num_couplings=2, hidden_units=(8,))
  with pytest.raises(ValueError, match='exists'):
    tfp_nrg.export(model, str(tmp_path))
  with pytest.raises(TypeError, match='distribution'):
    tfp_nrg.export(lambda x: x, str(tmp_path / 'new'))
  # An empty path would write into the current directory.
  for path in ('', None):
    with pytest.raises(ValueError, match='`path` must name'):
      tfp_nrg.export(model, path)
