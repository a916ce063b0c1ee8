"""Base class for bijectors that compute a map and its log-det together."""

import tensorflow_probability as tfp
from tensorflow_probability.python.internal import cache_util

tfb = tfp.bijectors

__all__ = ['OnePassBijector']


class OnePassBijector(tfb.Bijector):
  """A `Bijector` defined by `forward_and_log_det` and `inverse_and_log_det`.

  Coupling flows get the log-determinant as a by-product of the map itself.
  Subclasses implement the two methods, each returning `(value, log_det)` with
  the log-det over the bijector's minimal event. As in TFP's `HighwayFlow` and
  `FFJORD`, the bijector cache keeps the log-det of every `forward`/`inverse`
  call, so that `TransformedDistribution`'s separate calls for the value and
  the log-det (in `experimental_sample_and_log_prob` and `log_prob`) run the
  flow once, and trace it once inside a `tf.function`.

  The variables live in `tf.Module`s that each instance creates, not in
  tensor parameters: there are no batch-shaped parameters to describe, and
  two instances built with the same arguments are different maps. Equality
  (and so the bijector cache, which TFP keys by it) is therefore identity.
  """

  _cache = cache_util.BijectorCacheWithGreedyAttrs(
      forward_name='_augmented_forward', inverse_name='_augmented_inverse')

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def _get_parameterization(self):
    return id(self)

  def forward_and_log_det(self, z):
    """Returns `(x, ln |det dx/dz|)`."""
    raise NotImplementedError

  def inverse_and_log_det(self, x):
    """Returns `(z, ln |det dz/dx|)`."""
    raise NotImplementedError

  def _augmented_forward(self, z):
    x, log_det = self.forward_and_log_det(z)
    return x, {'fldj': log_det, 'ildj': -log_det}

  def _augmented_inverse(self, x):
    z, log_det = self.inverse_and_log_det(x)
    return z, {'fldj': -log_det, 'ildj': log_det}

  def _forward(self, z):
    return self._augmented_forward(z)[0]

  def _inverse(self, x):
    return self._augmented_inverse(x)[0]

  def _forward_log_det_jacobian(self, z):
    cached = self._cache.forward_attributes(z)
    if 'fldj' not in cached:
      cached.update(self._augmented_forward(z)[1])
    return cached['fldj']

  def _inverse_log_det_jacobian(self, x):
    cached = self._cache.inverse_attributes(x)
    if 'ildj' not in cached:
      cached.update(self._augmented_inverse(x)[1])
    return cached['ildj']
