"""`neural_rg`: a NeuralRG flow as a `tfd.TransformedDistribution`."""

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

  Example:

  ```python
  q = tfp_nrg.neural_rg(8, architecture='mera', num_couplings=4)
  x, log_q = q.experimental_sample_and_log_prob(256, seed=(1, 2))
  z = q.bijector.inverse(x)                  # the RG transformation
  q.bijector.latent_scales(z)                # renormalized variables by scale
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
    seed: Python `int` or stateless seed for the initial weights.
    validate_args: Python `bool`.
    name: Python `str`.

  Returns:
    A `tfd.TransformedDistribution` with event shape `[L, L]`.

  Raises:
    TypeError, ValueError: on malformed arguments, naming the argument; an
      argument that does not apply to `architecture` is refused.
  """
  check_architecture_arguments(architecture, depth, repeat,
                               share_across_scales, num_layers)
  lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
  dtype = checks.check_float_dtype(dtype)
  common = dict(
      block_fn=bijectors.block_factory(
          num_couplings=num_couplings, hidden_units=hidden_units, dtype=dtype,
          conditioner_dtype=conditioner_dtype, validate_args=validate_args),
      seed=seed, validate_args=validate_args)
  if architecture == 'tebd':
    flow = bijectors.TEBD(lattice_size,
                          num_layers=2 if num_layers is None else num_layers,
                          **common)
  else:
    flow_class = bijectors.MERA if architecture == 'mera' else bijectors.Tree
    flow = flow_class(lattice_size, depth=depth,
                      repeat=1 if repeat is None else repeat,
                      share_across_scales=bool(share_across_scales), **common)
  prior = tfd.Sample(tfd.Normal(tf.zeros([], dtype), tf.ones([], dtype)),
                     sample_shape=[lattice_size, lattice_size])
  return tfd.TransformedDistribution(prior, flow, validate_args=validate_args,
                                     name=name)


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
  base = (model.distribution if isinstance(model, symmetrized.Symmetrized)
          else model)
  flow = getattr(base, 'bijector', None)
  if not isinstance(flow, bijectors.HierarchicalFlow):
    raise TypeError('`model` must be a NeuralRG distribution (as `neural_rg` '
                    'returns, optionally `Symmetrized`); got {!r}.'.format(
                        model))
  return flow
