"""`Symmetrized`: a distribution averaged over a symmetry group's orbit."""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.distributions import symmetry_groups

tfd = tfp.distributions

__all__ = ['Symmetrized', 'unsymmetrized']


class Symmetrized(tfd.Distribution):
  """`q_sym(x) = 1/|G| sum_{g in G} q(g x)`, `G` a symmetry group of the target.

  Sampling draws `x ~ q` and applies a uniformly drawn `g in G`; `log_prob`
  is the log-sum-exp of `ln q` over the orbit `{g x : g in G}`, less
  `ln |G|`. `experimental_sample_and_log_prob` reuses `ln q(x)` from the base
  distribution's own `experimental_sample_and_log_prob` and evaluates `q` only
  at the other `|G| - 1` members of the orbit (for a flow, as many inverse
  passes, in one batch).

  The groups (`tfp_nrg.distributions.symmetry_groups`):

  - `'z2'` (the default): `x -> +-x`, the spin flip of the Ising model, of its
    dual and of phi^4: `q_sym(x) = (q(x) + q(-x)) / 2`;
  - `'dihedral'`: the 8 rotations and reflections of an `[L, L]` lattice;
  - `'translations'`: the `L^2` periodic shifts of an `[L, L]` lattice;
  - a tuple of these: their product (`('dihedral', 'translations')` is the
    whole space group of the square lattice, `8 L^2` elements).

  A symmetrized model is never worse than its base: for a `G`-invariant
  target, by the convexity of the KL divergence (Jensen's inequality), both
  `E_{q_sym}[ln q_sym - ln pi]` and `KL(pi || q_sym)` are at most those of
  `q`. It costs `|G|` evaluations of `q` per density, so it pays where the
  base breaks a symmetry of the target (a NeuralRG hierarchy is not
  translation invariant; an equivariant flow gains nothing from its own
  group).

  Example:

  ```python
  q = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8))
  x, log_q = q.experimental_sample_and_log_prob(64, seed=(3, 4))
  q.log_prob(-x)  # == log_q
  q_lattice = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8),
                                  group=('z2', 'dihedral'))
  q_lattice.log_prob(tf.linalg.matrix_transpose(x))  # == q_lattice.log_prob(x)
  ```
  """

  def __init__(self, distribution, group='z2', validate_args=False, name=None):
    """Builds the mixture.

    Args:
      distribution: a `tfd.Distribution` with a fully defined event shape.
      group: `'z2'`, `'dihedral'`, `'translations'`, or a tuple of them (their
        product).
      validate_args: Python `bool`.
      name: Python `str`; default `'Symmetrized' + distribution.name`.

    Raises:
      TypeError: if `distribution` is not a `tfd.Distribution`.
      ValueError: for an unknown or repeated `group`, an undefined event
        shape, or one the group does not act on.
    """
    parameters = dict(locals())
    if not isinstance(distribution, tfd.Distribution):
      raise TypeError('`distribution` must be a tfd.Distribution; got '
                      '{!r}.'.format(distribution))
    if not distribution.event_shape.is_fully_defined():
      raise ValueError('`distribution` must have a fully defined event shape; '
                       'got {}.'.format(distribution.event_shape))
    names = (group,) if isinstance(group, str) else tuple(group)
    if not names or len(set(names)) != len(names):
      raise ValueError('`group` must name each group once; got {!r}.'.format(
          group))
    self._factors = [symmetry_groups.get(n, distribution.event_shape.as_list())
                     for n in names]
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

  @property
  def group_order(self):
    """`|G|`, the number of members of each orbit."""
    return math.prod(factor.order for factor in self._factors)

  def _batch_shape(self):
    return self._distribution.batch_shape

  def _batch_shape_tensor(self):
    return self._distribution.batch_shape_tensor()

  def _event_shape(self):
    return self._distribution.event_shape

  def _event_shape_tensor(self):
    return self._distribution.event_shape_tensor()

  def orbit(self, x):
    """`g x` for every `g in G`, stacked on a new leading axis (identity first).

    Args:
      x: `Tensor` of draws, `batch + event_shape`.

    Returns:
      `Tensor` of shape `[|G|] + x.shape`.
    """
    x = tf.convert_to_tensor(x, dtype_hint=self.dtype)
    members = x[tf.newaxis]
    for factor in self._factors:
      members = factor.orbit(members)
      members = tf.reshape(members, tf.concat(
          [[-1], tf.shape(x)], axis=0))
    return members

  def orbit_representative(self, x):
    """The member of each `x`'s orbit that the base prefers.

    Returns `g x` with `g = argmax_g q(g x)`: the mixture's hidden group
    element at its most probable value. Analyses of the base flow (e.g.
    `tfp_nrg.rg`, which inverts it) should see these representatives: the
    other members are ones the base flow rarely generates, and their latent
    variables are atypical.

    Args:
      x: `Tensor` of draws, `batch + event_shape`.

    Returns:
      `Tensor` like `x`.
    """
    members = self.orbit(x)
    return symmetry_groups.select(
        members, tf.argmax(self._distribution.log_prob(members), axis=0),
        self._distribution.event_shape.rank)

  def _act_at_random(self, x, seed):
    """`g x` with `g` uniform on the group, one per draw."""
    event_ndims = self._distribution.event_shape.rank
    draw_shape = tf.shape(x)[:tf.rank(x) - event_ndims]
    seeds = tfp.random.split_seed(seed, n=len(self._factors))
    for factor, factor_seed in zip(self._factors, seeds):
      index = tf.random.stateless_uniform(
          draw_shape, seed=factor_seed, maxval=factor.order, dtype=tf.int32)
      x = factor.act(x, index)
    return x

  def _orbit_log_prob(self, log_prob_x, x):
    """`ln q_sym(x)`, given `ln q(x)`: `q` at the rest of the orbit."""
    others = self._distribution.log_prob(self.orbit(x)[1:])
    return (tf.reduce_logsumexp(
        tf.concat([log_prob_x[tf.newaxis], others], axis=0), axis=0) -
            math.log(self.group_order))

  def _sample_n(self, n, seed=None):
    sample_seed, group_seed = tfp.random.split_seed(seed)
    x = self._distribution.sample(n, seed=sample_seed)
    return self._act_at_random(x, group_seed)

  def _log_prob(self, x):
    return self._orbit_log_prob(self._distribution.log_prob(x), x)

  def _sample_and_log_prob(self, sample_shape, seed):
    sample_seed, group_seed = tfp.random.split_seed(seed)
    x, log_prob = self._distribution.experimental_sample_and_log_prob(
        sample_shape, seed=sample_seed)
    # The orbit of x is that of g x.
    log_prob = self._orbit_log_prob(log_prob, x)
    return self._act_at_random(x, group_seed), log_prob


def unsymmetrized(model):
  """The model a `Symmetrized` mixes, or `model` itself.

  Example:

  ```python
  model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(4))
  flow = tfp_nrg.distributions.unsymmetrized(model).bijector
  ```
  """
  return model.distribution if isinstance(model, Symmetrized) else model
