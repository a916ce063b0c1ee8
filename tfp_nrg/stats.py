"""Statistics of lattice fields and samples that need no flow.

* `correlation_function`: the normalized connected two-point function of
  fields on a torus, `g(r) = <dz_i dz_{i+r e}> / <dz_i^2>`;
* `gaussian_mutual_information`: `I(A:B)` of jointly Gaussian variables from
  sample covariances, with the exact Wishart bias of each `ln det` removed;
* `ksg_mutual_information`: the Kraskov-Stogbauer-Grassberger
  nearest-neighbour estimate of `I(A:B)`, non-parametric.

Example:

```python
x = tf.random.normal([512, 8, 8])
tfp_nrg.stats.correlation_function(x)           # ~[1, 0, 0, 0, 0]
a, b = tf.random.normal([2000, 2]), tf.random.normal([2000, 2])
tfp_nrg.stats.gaussian_mutual_information(a, b)  # ~0 nats
```
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import lattice
from tfp_nrg.internal import checks

__all__ = [
    'correlation_function',
    'gaussian_mutual_information',
    'ksg_mutual_information',
    'min_gaussian_samples',
]


def correlation_function(fields, max_distance=None):
  """Normalized connected correlation `g(r)` along the axes of a torus.

  ```none
  g(r) = < dz_i dz_{i + r e} > / < dz_i^2 >,   dz_i = z_i - <z_i>,
  ```

  averaged over samples, sites, both axes `e` and channels; `<z_i>` is the
  sample mean at each site.

  Args:
    fields: `Tensor` `[n, S, S]`, or `[n, S, S, C]` for `C` channels (e.g.
      the three latent variables per cell of one scale).
    max_distance: Python `int`; default `S // 2`.

  Returns:
    `Tensor` `[max_distance + 1]`, `g(0) = 1`.
  """
  fields = tf.convert_to_tensor(fields)
  if fields.shape.rank == 3:
    fields = fields[..., tf.newaxis]
  if fields.shape.rank != 4 or fields.shape[1] != fields.shape[2]:
    raise ValueError('`fields` must have shape [n, S, S] or [n, S, S, C]; '
                     'got {}.'.format(fields.shape))
  size = fields.shape[1]
  max_distance = (size // 2 if max_distance is None else
                  checks.check_positive_int(max_distance, 'max_distance', 0))
  delta = fields - tf.reduce_mean(fields, axis=0)
  variance = tf.reduce_mean(delta**2)
  return tf.stack([
      0.5 * tf.reduce_mean(delta * (lattice.roll(delta, r, axis=1) +
                                    lattice.roll(delta, r, axis=2))) /
      variance
      for r in range(max_distance + 1)])


def _as_float64_matrix(values, name):
  values = tf.cast(tf.convert_to_tensor(values), tf.float64)
  if values.shape.rank != 2:
    raise ValueError('`{}` must have shape [num_samples, dim]; got {}.'.format(
        name, values.shape))
  return values


def _log_det_covariance_bias(dim, num_samples):
  """`E[ln det S] - ln det Sigma` for the sample covariance of normal draws.

  `(n - 1) S` is Wishart with `n - 1` degrees of freedom, so the bias is
  `sum_{i=1}^{d} psi((n - i) / 2) + d ln(2 / (n - 1))`.
  """
  i = tf.range(1, dim + 1, dtype=tf.float64)
  return (tf.reduce_sum(tf.math.digamma((num_samples - i) / 2.)) +
          dim * np.log(2. / (num_samples - 1)))


def min_gaussian_samples(p, q):
  """The fewest samples `gaussian_mutual_information` takes: `p + q + 2`."""
  return p + q + 2


def gaussian_mutual_information(a, b, bias_corrected=True):
  """Mutual information of `a` and `b` if they were jointly Gaussian (nats).

  ```none
  I(A:B) = 1/2 (ln det C_AA + ln det C_BB - ln det C),
  ```

  `C` the sample covariance. Each `ln det` is corrected (by default) for its
  exact finite-sample bias under normality, which otherwise adds about
  `p q / (2 n)` nats of spurious information.

  Args:
    a: `Tensor` `[n, p]`.
    b: `Tensor` `[n, q]`, the same `n` samples.
    bias_corrected: Python `bool`.

  Returns:
    Scalar float64 `Tensor`.

  Raises:
    ValueError: on mismatched shapes or `n <= p + q + 1`.
  """
  a = _as_float64_matrix(a, 'a')
  b = _as_float64_matrix(b, 'b')
  n, p, q = a.shape[0], a.shape[1], b.shape[1]
  if b.shape[0] != n:
    raise ValueError('`a` and `b` must hold the same number of samples; got '
                     '{} and {}.'.format(n, b.shape[0]))
  if n < min_gaussian_samples(p, q):
    raise ValueError('Need more samples than variables plus one: got {} '
                     'samples of {} + {} variables.'.format(n, p, q))
  joint = tf.concat([a, b], axis=1)
  covariance = tfp.stats.covariance(joint, sample_axis=0) * n / (n - 1)

  def log_det(matrix):
    value = 2. * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(
        tf.linalg.cholesky(matrix))))
    if bias_corrected:
      value -= _log_det_covariance_bias(matrix.shape[0], n)
    return value

  return 0.5 * (log_det(covariance[:p, :p]) + log_det(covariance[p:, p:]) -
                log_det(covariance))


def ksg_mutual_information(a, b, k=3):
  """Kraskov-Stogbauer-Grassberger k-nearest-neighbour estimate of I (nats).

  KSG's first estimator, with max-norm distances:

  ```none
  I = psi(k) + psi(n) - < psi(n_a + 1) + psi(n_b + 1) >,
  ```

  `n_a(i)` the number of points whose `a`-distance to point `i` is below its
  distance to its k-th neighbour in the joint space. Non-parametric, so it
  checks the Gaussian estimate; it costs `O(n^2 (p + q))` memory and its
  bias grows with the dimension, so use it on small sets (`p + q` of a few,
  `n` up to a few thousand).

  Args:
    a: `Tensor` `[n, p]`.
    b: `Tensor` `[n, q]`.
    k: Python `int` >= 1.

  Returns:
    Scalar float64 `Tensor`.
  """
  a = _as_float64_matrix(a, 'a')
  b = _as_float64_matrix(b, 'b')
  k = checks.check_positive_int(k, 'k')
  n = a.shape[0]
  if b.shape[0] != n or n <= k:
    raise ValueError('`a` and `b` must hold the same number of samples, more '
                     'than k = {}; got {} and {}.'.format(k, n, b.shape[0]))

  def distances(v):
    d = tf.reduce_max(tf.abs(v[:, tf.newaxis, :] - v[tf.newaxis, :, :]), -1)
    return d + tf.linalg.diag(tf.fill([n], tf.constant(np.inf, tf.float64)))

  distance_a, distance_b = distances(a), distances(b)
  joint = tf.maximum(distance_a, distance_b)
  radius = -tf.math.top_k(-joint, k=k).values[:, -1:]
  count_a = tf.reduce_sum(tf.cast(distance_a < radius, tf.float64), axis=1)
  count_b = tf.reduce_sum(tf.cast(distance_b < radius, tf.float64), axis=1)
  digamma = tf.math.digamma
  return (digamma(tf.constant(k, tf.float64)) +
          digamma(tf.constant(n, tf.float64)) -
          tf.reduce_mean(digamma(count_a + 1.) + digamma(count_b + 1.)))
