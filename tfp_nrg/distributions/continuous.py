"""`continuous_flow`: the equivariant continuous flow as a distribution."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import bijectors
from tfp_nrg.distributions import symmetrized
from tfp_nrg.internal import checks

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ['continuous_flow', 'flow_parts', 'integration_error']


def continuous_flow(lattice_size,
                    *,
                    inner=None,
                    fourier_scale=False,
                    num_features=16,
                    num_channels=0,
                    num_time_modes=3,
                    num_steps=10,
                    dtype=tf.float32,
                    seed=0,
                    validate_args=False,
                    name='ContinuousFlow'):
  """`bijectors.ContinuousFlow` over a standard normal, alone or composed.

  The continuous flow mixes information across the whole lattice
  non-linearly in one layer; it composes three ways:

  ```none
  x = CF(z)                  alone (inner=None, fourier_scale=False);
  x = CF(FourierScale(z))    after a learned periodic convolution;
  x = CF(inner(z))           at the physical end of another flow, e.g. a
                             NeuralRG hierarchy (`neural_rg(...).bijector`),
                             which builds the multi-scale structure.
  ```

  The flow starts as the identity, so a composed model starts as its inner
  part. It is odd and equivariant under the lattice's translations,
  rotations and reflections, so `q(-x) = q(x)` when the rest is odd too.

  Example:

  ```python
  q = tfp_nrg.distributions.continuous_flow(8, fourier_scale=True)
  x, log_q = q.experimental_sample_and_log_prob(16, seed=(1, 2))
  hybrid = tfp_nrg.distributions.continuous_flow(
      8, inner=tfp_nrg.neural_rg(8, z2_equivariant=True).bijector)
  ```

  Args:
    lattice_size: Python `int` L >= 2 (a power of two with `inner` NeuralRG).
    inner: optional `tfb.Bijector` on `[L, L]` fields, applied first.
    fourier_scale: Python `bool`, a `FourierScale` first (not with `inner`,
      which has its own).
    num_features: see `bijectors.ContinuousFlow`.
    num_channels: hidden channels, see `bijectors.ContinuousFlow`.
    num_time_modes: see `bijectors.ContinuousFlow`.
    num_steps: Runge-Kutta steps, see `bijectors.ContinuousFlow`.
    dtype: `tf.float32` or `tf.float64`.
    seed: Python `int` or stateless seed of the initial weights.
    validate_args: Python `bool`.
    name: Python `str`.

  Returns:
    A `tfd.TransformedDistribution` with event shape `[L, L]`.

  Raises:
    TypeError, ValueError: on malformed arguments, naming the argument.
  """
  lattice_size = checks.check_lattice_size(lattice_size, minimum=2)
  dtype = checks.check_float_dtype(dtype)
  fourier_scale = checks.check_bool(fourier_scale, 'fourier_scale')
  if inner is not None and not isinstance(inner, tfb.Bijector):
    raise TypeError('`inner` must be a tfb.Bijector; got {!r}.'.format(inner))
  if inner is not None and fourier_scale:
    raise ValueError('Pass `fourier_scale` or `inner`, not both: the inner '
                     'flow carries its own Fourier scale.')
  flow = bijectors.ContinuousFlow(
      lattice_size, num_features=num_features, num_channels=num_channels,
      num_time_modes=num_time_modes, num_steps=num_steps, dtype=dtype,
      seed=seed, validate_args=validate_args)
  first = inner
  if fourier_scale:
    first = bijectors.FourierScale(lattice_size, dtype=dtype,
                                   validate_args=validate_args)
  bijector = flow if first is None else tfb.Chain([flow, first])
  base = tfd.Sample(tfd.Normal(tf.zeros([], dtype), tf.ones([], dtype)),
                    sample_shape=[lattice_size, lattice_size])
  return tfd.TransformedDistribution(base, bijector,
                                     validate_args=validate_args, name=name)


def flow_parts(model):
  """The flows a model is built of: `{kind: bijector}`.

  Kinds: `'hierarchy'` (a NeuralRG `HierarchicalFlow`), `'continuous'` (a
  `ContinuousFlow`) and `'fourier_scale'` (a `FourierScale`, on its own or
  the hierarchy's), found through `Symmetrized` and `tfb.Chain`.

  Args:
    model: a `tfd.TransformedDistribution` (as `neural_rg` or
      `continuous_flow` build), possibly `Symmetrized`.

  Returns:
    A `dict`; a kind the model lacks is absent.
  """
  found = {}
  pending = [getattr(symmetrized.unsymmetrized(model), 'bijector', None)]
  while pending:
    bijector = pending.pop()
    if isinstance(bijector, tfb.Composition):   # A tfb.Chain.
      pending.extend(bijector.bijectors)
    elif isinstance(bijector, bijectors.HierarchicalFlow):
      found['hierarchy'] = bijector
      if bijector.fourier_scale is not None:
        found['fourier_scale'] = bijector.fourier_scale
    elif isinstance(bijector, bijectors.ContinuousFlow):
      found['continuous'] = bijector
    elif isinstance(bijector, bijectors.FourierScale):
      found['fourier_scale'] = bijector
  return found


def integration_error(model, num_draws, seed):
  """The continuous flow's solver error in `ln q`, at draws of `model`, nats.

  `|ln q| at the flow's steps against twice as many, per draw: the
  integrated log-det and the density of what enters the continuous flow (the
  base, or the flows below it) at the integrated end point
  (`bijectors.ContinuousFlow.integration_error`). Reverse-KL training can
  drive a flow to where a coarse solver's `ln q` is wrong and no longer its
  density (its free energy then falls below `-ln Z`); this says so.
  `hooks.IntegrationErrorHook` watches it during training.

  Args:
    model: a model with a continuous flow (`flow_parts`) at its physical end,
      possibly `Symmetrized` (the error of its base model).
    num_draws: Python `int`.
    seed: a stateless seed.

  Returns:
    `Tensor` `[num_draws]`.

  Raises:
    TypeError: if `model` has no continuous flow at its physical end.
  """
  model = symmetrized.unsymmetrized(model)
  bijector = getattr(model, 'bijector', None)
  rest = []
  if isinstance(bijector, tfb.Composition) and bijector.bijectors:
    bijector, rest = bijector.bijectors[0], list(bijector.bijectors[1:])
  if not isinstance(bijector, bijectors.ContinuousFlow):
    raise TypeError('`model` has no continuous flow at its physical end; got '
                    '{!r}.'.format(model))
  inner = model.distribution
  if rest:
    inner = tfd.TransformedDistribution(
        inner, rest[0] if len(rest) == 1 else tfb.Chain(rest))
  return bijector.integration_error(model.sample(num_draws, seed=seed),
                                    inner_log_prob=inner.log_prob)
