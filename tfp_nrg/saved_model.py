"""`export`: a trained distribution as a TensorFlow SavedModel.

The SavedModel needs neither tfp_nrg nor TFP to run: it holds the variables
and the traced TensorFlow graphs of three signatures,

* `sample(n, seed)` -> `{'x': [n] + event_shape}`,
* `log_prob(x)` -> `{'log_prob': [batch]}`,
* `sample_and_log_prob(n, seed)` -> `{'x', 'log_prob'}` (one forward pass),

with `n` an int32 scalar and `seed` an int32 `[2]` stateless seed. This is how
a trained sampler is served (TF Serving reads the signatures) or handed to
another program.

Example:

```python
tfp_nrg.export(model, '/tmp/neural_rg_L8')
# Elsewhere, with TensorFlow only:
sampler = tf.saved_model.load('/tmp/neural_rg_L8')
draws = sampler.sample_and_log_prob(tf.constant(16), tf.constant([1, 2]))
draws['x'], draws['log_prob']
```
"""

import os

import tensorflow as tf

from tfp_nrg.internal import checks

__all__ = ['export']


class _ExportedDistribution(tf.Module):
  """The signatures of `export`, closing over a distribution's variables."""

  def __init__(self, distribution, jit_compile):
    super().__init__(name='exported_distribution')
    # Tracked, so that the SavedModel holds them.
    self.distribution_variables = list(distribution.variables)
    event_shape = distribution.event_shape.as_list()
    count = tf.TensorSpec([], tf.int32, name='n')
    seed = tf.TensorSpec([2], tf.int32, name='seed')
    points = tf.TensorSpec([None] + event_shape, distribution.dtype,
                           name='x')

    def function(fn, *signature):
      return tf.function(fn, input_signature=signature,
                         jit_compile=jit_compile, autograph=False)

    def checked(n):
      # A clear error for n < 0 (as graphs run them; XLA drops asserts).
      with tf.control_dependencies([tf.debugging.assert_non_negative(
          n, message='`n` (the number of draws) must be non-negative')]):
        return tf.identity(n)

    self.sample = function(
        lambda n, seed: {'x': distribution.sample(checked(n), seed=seed)},
        count, seed)
    self.log_prob = function(
        lambda x: {'log_prob': distribution.log_prob(x)}, points)

    def sample_and_log_prob(n, seed):
      x, log_prob = distribution.experimental_sample_and_log_prob(
          checked(n), seed=seed)
      return {'x': x, 'log_prob': log_prob}

    self.sample_and_log_prob = function(sample_and_log_prob, count, seed)


def export(distribution, path, jit_compile=False):
  """Writes `distribution` as a SavedModel with three signatures.

  Args:
    distribution: a `tfd.Distribution` with a fully defined event shape and
      a scalar batch shape (e.g. a trained `neural_rg`, `Symmetrized` or
      not), supporting stateless seeds.
    path: the SavedModel directory to write; must not exist yet.
    jit_compile: Python `bool`, whether the signatures are XLA-compiled
      (portable graphs without it; faster on accelerators with it).

  Returns:
    `path`.

  Raises:
    TypeError: if `distribution` is not a TFP distribution.
    ValueError: if its event shape is not fully defined, its batch shape is
      not scalar, or `path` exists.
  """
  checks.check_distribution(distribution, 'distribution')
  if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
    raise ValueError('`path` must name the SavedModel directory to write; got '
                     '{!r}.'.format(path))
  if tf.io.gfile.exists(path):
    raise ValueError('`path` {!r} exists; export writes a new '
                     'directory.'.format(path))
  module = _ExportedDistribution(distribution, jit_compile)
  tf.saved_model.save(module, path, signatures={
      'sample': module.sample,
      'log_prob': module.log_prob,
      'sample_and_log_prob': module.sample_and_log_prob,
  })
  return path
