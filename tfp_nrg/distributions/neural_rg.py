"""`neural_rg`: a NeuralRG flow as a `tfd.TransformedDistribution`."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import bijectors
from tfp_nrg.distributions import symmetrized
from tfp_nrg.internal import checks

tfd = tfp.distributions

__all__ = [
    'ARCHITECTURES',
    'check_architecture_arguments',
    'flow_of',
    'neural_rg',
]

ARCHITECTURES = ('mera', 'tebd', 'tree')


def check_architecture_arguments(architecture, depth=None, repeat=None,
                                 share_across_scales=None, num_layers=None):
  """Refuses an unknown architecture or an argument that does not apply.

  `depth`, `repeat` and `share_across_scales` belong to the hierarchical
  architectures (`'mera'`, `'tree'`), `num_layers` to `'tebd'`; `None` means
  "not given".

  Raises:
    ValueError: naming the argument.
  """
  if architecture not in ARCHITECTURES:
    raise ValueError('`architecture` must be one of {}; got {!r}.'.format(
        ARCHITECTURES, architecture))
  scale_arguments = dict(depth=depth, repeat=repeat,
                         share_across_scales=share_across_scales)
  inapplicable = ([k for k, v in scale_arguments.items() if v is not None]
                  if architecture == 'tebd' else
                  ['num_layers'] if num_layers is not None else [])
  if inapplicable:
    raise ValueError('`{}` does not apply to architecture {!r}.'.format(
        '`, `'.join(inapplicable), architecture))


def neural_rg(lattice_size,
              *,
              architecture='mera',
              depth=None,
              repeat=None,
              share_across_scales=None,
              num_layers=None,
              num_couplings=4,
              hidden_units=(10, 10, 10),
              dtype=tf.float32,
              conditioner_dtype=None,
              z2_equivariant=False,
              fourier_scale=False,
              base_distribution=None,
              seed=0,
              validate_args=False,
              name='NeuralRG'):
  """A NeuralRG generative model `q(x)` on `[L, L]` fields.

  `x = g(z)` with `z ~ N(0, I)` of shape `[L, L]` and `g` one of the NeuralRG
  architectures, so that

  ```none
  ln q(x) = ln N(g^{-1}(x); 0, I) + ln |det d g^{-1} / dx|.
  ```

  `experimental_sample_and_log_prob` runs the flow forward only (no inverse).
  The flow's variables are the distribution's `trainable_variables`.

  With `z2_equivariant=True` every coupling has an odd shift and an even
  log-scale, so `g(-z) = -g(z)` and `ln |det dg^{-1}/dx|` is even; over the
  symmetric prior the model is exactly Z2-invariant, `q(-x) = q(x)`, at the
  cost of one flow pass, where `Symmetrized(neural_rg(...))` needs a second
  (inverse) pass for `q(-x)` on every draw.

  The defaults are the paper's small network (hidden layers (10, 10, 10), one
  disentangler-decimator pair per scale, no Fourier scale). The configuration
  tuned by measurement, with which `docs/results.md` was made, is
  `tfp_nrg.runs.RunConfig`'s: hidden layers (32, 32), `repeat=2`,
  `fourier_scale=True`; `RunConfig().build_model()` builds it.

  Example:

  ```python
  q = tfp_nrg.neural_rg(8, architecture='mera', num_couplings=4)
  x, log_q = q.experimental_sample_and_log_prob(256, seed=(1, 2))
  z = q.bijector.inverse(x)                  # the RG transformation
  q.bijector.latent_scales(z)                # renormalized variables by scale

  q_even = tfp_nrg.neural_rg(8, z2_equivariant=True)
  q_even.log_prob(-x) - q_even.log_prob(x)   # zero, up to rounding
  ```

  Args:
    lattice_size: Python `int` L, a power of two >= 4.
    architecture: `'mera'`, `'tebd'` or `'tree'`.
    depth: number of scales (`'mera'`, `'tree'`; default `log2 L`).
    repeat: disentangler-decimator pairs (decimators, for `'tree'`) per scale
      (`'mera'`, `'tree'`; default 1).
    share_across_scales: share blocks across scales (`'mera'`, `'tree'`;
      default `False`).
    num_layers: number of patch layers (`'tebd'` only; default 2).
    num_couplings: affine couplings per 2x2 block.
    hidden_units: conditioner MLP hidden widths.
    dtype: `tf.float32` or `tf.float64`.
    conditioner_dtype: `None` (= `dtype`) or a lower precision such as
      `tf.bfloat16` for the conditioner MLPs; log-dets stay in `dtype`.
    z2_equivariant: Python `bool`: odd couplings (see
      `bijectors.PatchCouplingBlock`), a Z2-invariant model.
    fourier_scale: Python `bool`: end the flow with a learned periodic
      convolution on the physical side (`bijectors.FourierScale`), which
      represents a translation-invariant Gaussian (the free field) exactly
      and leaves the couplings the non-Gaussian rest. It is linear, so it
      keeps `z2_equivariant` flows odd.
    base_distribution: optional `tfd.Distribution` of `z`, event `[L, L]`,
      scalar batch, `dtype`; default the standard normal. With
      `z2_equivariant` it must be symmetric, `p(-z) = p(z)`.
    seed: Python `int` or stateless seed for the initial weights.
    validate_args: Python `bool`.
    name: Python `str`.

  Returns:
    A `tfd.TransformedDistribution` with event shape `[L, L]`.

  Raises:
    TypeError, ValueError: on malformed arguments, naming the argument; an
      argument that does not apply to `architecture` is refused, and so is a
      `base_distribution` that is not symmetric with `z2_equivariant`.
  """
  check_architecture_arguments(architecture, depth, repeat,
                               share_across_scales, num_layers)
  lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
  dtype = checks.check_float_dtype(dtype)
  if base_distribution is None:
    base_distribution = tfd.Sample(
        tfd.Normal(tf.zeros([], dtype), tf.ones([], dtype)),
        sample_shape=[lattice_size, lattice_size])
  else:
    _check_base_distribution(base_distribution, lattice_size, dtype,
                             z2_equivariant)
  common = dict(
      block_fn=bijectors.block_factory(
          num_couplings=num_couplings, hidden_units=hidden_units, dtype=dtype,
          conditioner_dtype=conditioner_dtype, z2_equivariant=z2_equivariant,
          validate_args=validate_args),
      fourier_scale=checks.check_bool(fourier_scale, 'fourier_scale'),
      seed=seed,
      validate_args=validate_args)
  if architecture == 'tebd':
    flow = bijectors.TEBD(lattice_size,
                          num_layers=2 if num_layers is None else num_layers,
                          **common)
  else:
    flow_class = bijectors.MERA if architecture == 'mera' else bijectors.Tree
    share = (False if share_across_scales is None else
             checks.check_bool(share_across_scales, 'share_across_scales'))
    flow = flow_class(lattice_size, depth=depth,
                      repeat=1 if repeat is None else repeat,
                      share_across_scales=share, **common)
  return tfd.TransformedDistribution(base_distribution, flow,
                                     validate_args=validate_args, name=name)


def _check_base_distribution(base, lattice_size, dtype, z2_equivariant):
  """Refuses a base of the wrong kind, shape or dtype, or an asymmetric one.

  Symmetry is checked on draws, `ln p(-z) = ln p(z)` at 16 of them, when
  the model is built eagerly.
  """
  checks.check_distribution(base, 'base_distribution')
  if (base.event_shape != [lattice_size, lattice_size] or
      base.dtype != dtype):
    raise ValueError('`base_distribution` must have event shape [{0}, {0}] '
                     'and dtype {1}; got {2} and {3}.'.format(
                         lattice_size, dtype.name, base.event_shape,
                         base.dtype.name))
  if z2_equivariant and tf.executing_eagerly():
    z = base.sample(16, seed=(0, 1))
    if not np.allclose(base.log_prob(z), base.log_prob(-z), rtol=1e-5,
                       atol=1e-5):
      raise ValueError('`z2_equivariant=True` needs a symmetric '
                       '`base_distribution`, p(-z) = p(z); {} is not.'.format(
                           base.name))


def flow_of(model):
  """The NeuralRG bijector `g` (latent -> physical) of a model.

  Args:
    model: what `neural_rg` returns (or `RunConfig.build_model`): a
      `tfd.TransformedDistribution` over a NeuralRG flow, possibly wrapped in
      `Symmetrized`.

  Returns:
    The `tfp_nrg.bijectors.HierarchicalFlow` (a `MERA`, `TEBD` or `Tree`).

  Raises:
    TypeError: if `model` is not such a distribution.
  """
  flow = getattr(symmetrized.unsymmetrized(model), 'bijector', None)
  if not isinstance(flow, bijectors.HierarchicalFlow):
    raise TypeError('`model` must be a NeuralRG distribution (as `neural_rg` '
                    'returns, optionally `Symmetrized`); got {!r}.'.format(
                        model))
  return flow
