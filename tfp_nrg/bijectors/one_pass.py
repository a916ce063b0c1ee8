"""Base class for bijectors that compute a map and its log-det together."""

import tensorflow_probability as tfp

tfb = tfp.bijectors

__all__ = ['OnePassBijector']


class OnePassBijector(tfb.Bijector):
  """A `Bijector` defined by `forward_and_log_det` and `inverse_and_log_det`.

  Coupling flows get the log-determinant as a by-product of the map itself.
  Subclasses implement the two methods, each returning `(value, log_det)` with
  the log-det over the bijector's minimal event; the `Bijector` hooks
  `_forward`, `_inverse` and the log-det Jacobians read their halves. (Within
  one `tf.function`, the duplicate pass that TFP's separate calls would trace
  is merged by common-subexpression elimination.)

  The variables live in `tf.Module`s, not in tensor parameters, so there are
  no batch-shaped parameters to describe.
  """

  @classmethod
  def _parameter_properties(cls, dtype):
    return dict()

  def forward_and_log_det(self, z):
    """Returns `(x, ln |det dx/dz|)`."""
    raise NotImplementedError

  def inverse_and_log_det(self, x):
    """Returns `(z, ln |det dz/dx|)`."""
    raise NotImplementedError

  def _forward(self, z):
    return self.forward_and_log_det(z)[0]

  def _inverse(self, x):
    return self.inverse_and_log_det(x)[0]

  def _forward_log_det_jacobian(self, z):
    return self.forward_and_log_det(z)[1]

  def _inverse_log_det_jacobian(self, x):
    return self.inverse_and_log_det(x)[1]
