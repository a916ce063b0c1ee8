"""Single-spin-flip Metropolis for Ising spins, on a torus or any graph.

A flip of spin `s_i` under the weight `exp(1/2 s^T K s)`, `K = J / T` with a
zero diagonal, is accepted with probability

```none
min(1, exp(-2 s_i h_i)),      h_i = (K s)_i, the local field.
```

Two sweep orders keep the Ising distribution invariant, each flip satisfying
detailed balance:

- **checkerboard** on a bipartite torus (even side): every site's
  neighbours are of the other colour, so a colour updates in parallel, one
  FFT-free stencil per half-sweep;
- **sequential** on any coupling matrix (`DenseCoupling`): the sites in
  turn, the local fields of all sites updated after each flip,
  `h <- h - 2 s_i K[i, :]`, so a flip costs `O(N)` and a sweep `O(N^2)`.

`metropolis_sweeps` picks the one the operator admits. Both are vectorised
over chains and compile under XLA.

Example:

```python
op = tfp_nrg.targets.TorusCoupling(16, tfp_nrg.exact.CRITICAL_TEMPERATURE)
spins = tfp_nrg.targets.random_spins(op, num_chains=64, seed=(0, 1))
spins = tfp_nrg.targets.metropolis_sweeps(op, spins, 100, seed=(0, 2))
```
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.internal import checks
from tfp_nrg.targets import couplings

__all__ = [
    'check_metropolis_supported',
    'checkerboard_sweeps',
    'metropolis_sweeps',
    'random_spins',
    'sequential_sweeps',
]


def check_metropolis_supported(operator):
  """Raises `NotImplementedError` for a torus of odd side (no sweep order)."""
  if isinstance(operator, couplings.DenseCoupling):
    return
  if not (isinstance(operator, couplings.TorusCoupling) and
          operator.is_bipartite):
    raise NotImplementedError(
        'Spin Metropolis needs a torus of even side or a coupling matrix; '
        'this target is {}. Build it with `DualIsing.from_coupling_matrix`, '
        'or sample the dual field with tfp.mcmc.HamiltonianMonteCarlo.'.format(
            'of side {}'.format(operator.lattice_size)
            if isinstance(operator, couplings.TorusCoupling) else
            'a {}'.format(type(operator).__name__)))


def random_spins(operator, num_chains, seed):
  """Independent uniform `+-1` spins, `[num_chains] + batch + event_shape`."""
  num_chains = checks.check_positive_int(num_chains, 'num_chains')
  uniform = tf.random.stateless_uniform(
      [num_chains] + operator.batch_shape + operator.event_shape,
      seed=tfp.random.sanitize_seed(seed))
  return tf.where(uniform < 0.5, tf.constant(-1., operator.dtype),
                  tf.constant(1., operator.dtype))


def _sweep_seeds(seed, num_sweeps):
  num_sweeps = checks.check_positive_int(num_sweeps, 'num_sweeps')
  return tf.random.experimental.stateless_split(
      tfp.random.sanitize_seed(seed), num_sweeps)


def checkerboard_sweeps(operator, spins, num_sweeps, seed):
  """`num_sweeps` checkerboard Metropolis sweeps of every chain.

  Args:
    operator: a `TorusCoupling` of even side.
    spins: `+-1` `Tensor` of shape `[chains] + event_shape`.
    num_sweeps: Python `int` >= 1.
    seed: a stateless seed.

  Returns:
    The spins after `num_sweeps` sweeps.

  Raises:
    NotImplementedError: unless `operator` is a torus of even side.
  """
  if isinstance(operator, couplings.DenseCoupling):
    raise NotImplementedError('A coupling matrix has no checkerboard; use '
                              '`sequential_sweeps`.')
  check_metropolis_supported(operator)
  coordinates = np.indices(operator.event_shape.as_list()).sum(axis=0)
  colours = [tf.constant(coordinates % 2 == c) for c in (0, 1)]

  def sweep(s, sweep_seed):
    for colour, colour_seed in zip(colours, tf.unstack(
        tf.random.experimental.stateless_split(sweep_seed, 2))):
      log_uniform = tf.math.log(tf.random.stateless_uniform(
          tf.shape(s), seed=colour_seed, dtype=s.dtype))
      flip = colour & (log_uniform < -2. * s * operator.local_field(s))
      s = tf.where(flip, -s, s)
    return s

  return tf.foldl(sweep, _sweep_seeds(seed, num_sweeps), initializer=spins)


def sequential_sweeps(operator, spins, num_sweeps, seed):
  """`num_sweeps` sequential Metropolis sweeps over any coupling matrix.

  Args:
    operator: a `DenseCoupling`.
    spins: `+-1` `Tensor` of shape `[chains] + event_shape`.
    num_sweeps: Python `int` >= 1.
    seed: a stateless seed.

  Returns:
    The spins after `num_sweeps` sweeps, each visiting the sites in order.
  """
  if not isinstance(operator, couplings.DenseCoupling):
    raise TypeError('`operator` must be a DenseCoupling; got {}.'.format(
        type(operator).__name__))
  reduced = operator.reduced_coupling_matrix
  num_sites = operator.num_sites

  def sweep(state, sweep_seed):
    s, field = state
    log_uniform = tf.math.log(tf.random.stateless_uniform(
        tf.shape(s), seed=sweep_seed, dtype=s.dtype))

    def flip_site(i, s, field):
      s_i = s[:, i]
      change = tf.where(log_uniform[:, i] < -2. * s_i * field[:, i],
                        -2. * s_i, tf.zeros_like(s_i))  # s_i' - s_i.
      s = s + change[:, tf.newaxis] * tf.one_hot(i, num_sites, dtype=s.dtype)
      field = field + change[:, tf.newaxis] * reduced[i]
      return i + 1, s, field

    _, s, field = tf.while_loop(lambda i, *_: i < num_sites, flip_site,
                                (tf.constant(0), s, field))
    return s, field

  flat = operator.flatten(spins)
  flat, _ = tf.foldl(sweep, _sweep_seeds(seed, num_sweeps),
                     initializer=(flat, tf.linalg.matvec(reduced, flat)))
  return operator.unflatten(flat)


def metropolis_sweeps(operator, spins, num_sweeps, seed):
  """Checkerboard sweeps on an even torus, sequential ones on a matrix.

  Raises:
    NotImplementedError: for a torus of odd side.
  """
  check_metropolis_supported(operator)
  if isinstance(operator, couplings.DenseCoupling):
    return sequential_sweeps(operator, spins, num_sweeps, seed)
  return checkerboard_sweeps(operator, spins, num_sweeps, seed)
