"""`Symmetrized`: a distribution averaged over a symmetry group's orbit."""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

__all__ = ['Symmetrized', 'unsymmetrized']

GROUPS = ('z2',)


class Symmetrized(tfd.Distribution):
  """`q_sym(x) = 1/|G| sum_{g in G} q(g x)`, `G` a symmetry group of the target.

  For `G = Z2 = {1, -1}` (the spin-flip symmetry of the Ising model and of its
  dual), `q_sym(x) = (q(x) + q(-x)) / 2`: sampling draws `x ~ q` and flips its
  sign with probability 1/2; `log_prob` is the log-sum-exp over the orbit
  `{x, -x}`. `experimental_sample_and_log_prob` reuses `ln q(x)` from the
  base distribution's own `experimental_sample_and_log_prob` and evaluates
  only `ln q(-x)` (for a flow, one inverse pass).

  A symmetrized model is never worse than its base: by Jensen's inequality the
  variational free energy `E_{q_sym}[ln q_sym - ln pi]` of a `G`-invariant
  target
  is at most that of `q`.

  Example:

  ```python
  q = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8))
  x, log_q = q.experimental_sample_and_log_prob(64, seed=(3, 4))
  q.log_prob(-x)  # == log_q
  ```
  """

  def __init__(self, distribution, group='z2', validate_args=False, name=None):
    """Builds the mixture.

    Args:
      distribution: a `tfd.Distribution` with a fully defined event shape.
      group: the symmetry group; only `'z2'` (x -> -x) is implemented.
      validate_args: Python `bool`.
      name: Python `str`; default `'Symmetrized' + distribution.name`.

    Raises:
      TypeError: if `distribution` is not a `tfd.Distribution`.
      ValueError: for an unknown `group` or an undefined event shape.
    """
    parameters = dict(locals())
    if not isinstance(distribution, tfd.Distribution):
      raise TypeError('`distribution` must be a tfd.Distribution; got '
                      '{!r}.'.format(distribution))
    if group not in GROUPS:
      raise ValueError('`group` must be one of {}; got {!r}.'.format(
          GROUPS, group))
    if not distribution.event_shape.is_fully_defined():
      raise ValueError('`distribution` must have a fully defined event shape; '
                       'got {}.'.format(distribution.event_shape))
    self._distribution = distribution
    self._group = group
    with tf.name_scope(name or 'Symmetrized' + distribution.name) as name:
      super().__init__(
          dtype=distribution.dtype,
          reparameterization_type=distribution.reparameterization_type,
          validate_args=validate_args,
          allow_nan_stats=distribution.allow_nan_stats,
          parameters=parameters,
          name=name)

  @classmethod
  def _parameter_properties(cls, dtype, num_classes=None):
    return dict(
        distribution=tfp.util.ParameterProperties(
            event_ndims=None, is_preferred=False))

  @property
  def distribution(self):
    return self._distribution

  @property
  def group(self):
    return self._group

  def _batch_shape(self):
    return self._distribution.batch_shape

  def _batch_shape_tensor(self):
    return self._distribution.batch_shape_tensor()

  def _event_shape(self):
    return self._distribution.event_shape

  def _event_shape_tensor(self):
    return self._distribution.event_shape_tensor()

  def orbit_representative(self, x):
    """The member of each `x`'s orbit `{x, -x}` that the base prefers.

    Returns `g x` with `g = argmax_g q(g x)`: the mixture's hidden group
    element at its most probable value. Analyses of the base flow (e.g.
    `tfp_nrg.rg`, which inverts it) should see these representatives: the
    other member is one the base flow rarely generates, and its latent
    variables are atypical.

    Args:
      x: `Tensor` of draws, `batch + event_shape`.

    Returns:
      `Tensor` like `x`.
    """
    x = tf.convert_to_tensor(x, dtype_hint=self.dtype)
    keep = self._distribution.log_prob(x) >= self._distribution.log_prob(-x)
    event_ndims = self._distribution.event_shape.rank
    keep = tf.reshape(keep, tf.concat(
        [tf.shape(keep), tf.ones([event_ndims], tf.int32)], axis=0))
    return tf.where(keep, x, -x)

  def _random_signs(self, x, seed):
    """+-1 with probability 1/2 each, one per draw, broadcastable to `x`."""
    event_ndims = self._distribution.event_shape.rank
    draw_shape = tf.shape(x)[:tf.rank(x) - event_ndims]
    uniform = tf.random.stateless_uniform(
        draw_shape, seed=tfp.random.sanitize_seed(seed), dtype=x.dtype)
    signs = tf.where(uniform < 0.5, -tf.ones_like(uniform),
                     tf.ones_like(uniform))
    return tf.reshape(signs, tf.concat(
        [draw_shape, tf.ones([event_ndims], tf.int32)], axis=0))

  def _orbit_log_prob(self, log_prob_x, x):
    log_prob_flipped = self._distribution.log_prob(-x)
    return (tf.reduce_logsumexp(tf.stack([log_prob_x, log_prob_flipped]),
                                axis=0) - math.log(2.))

  def _sample_n(self, n, seed=None):
    sample_seed, sign_seed = tfp.random.split_seed(seed)
    x = self._distribution.sample(n, seed=sample_seed)
    return x * self._random_signs(x, sign_seed)

  def _log_prob(self, x):
    return self._orbit_log_prob(self._distribution.log_prob(x), x)

  def _sample_and_log_prob(self, sample_shape, seed):
    sample_seed, sign_seed = tfp.random.split_seed(seed)
    x, log_prob = self._distribution.experimental_sample_and_log_prob(
        sample_shape, seed=sample_seed)
    # The orbit {x, -x} is the same before and after the flip.
    log_prob = self._orbit_log_prob(log_prob, x)
    return x * self._random_signs(x, sign_seed), log_prob


def unsymmetrized(model):
  """The model a `Symmetrized` mixes, or `model` itself.

  Example:

  ```python
  model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(4))
  flow = tfp_nrg.distributions.unsymmetrized(model).bijector
  ```
  """
  return model.distribution if isinstance(model, Symmetrized) else model
