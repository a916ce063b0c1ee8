"""`neural_rg`: a NeuralRG flow as a `tfd.TransformedDistribution`."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import bijectors
from tfp_nrg.distributions import symmetrized
from tfp_nrg.internal import checks

tfd = tfp.distributions

__all__ = ['ARCHITECTURES', 'flow_of', 'neural_rg', 'neural_rg_from_config']

ARCHITECTURES = ('mera', 'tebd', 'tree')


def neural_rg(lattice_size,
              architecture='mera',
              depth=None,
              repeat=1,
              num_couplings=4,
              hidden_units=(10, 10, 10),
              share_across_scales=False,
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
    depth: number of scales (`'mera'`, `'tree'`: default `log2 L`) or of
      layers (`'tebd'`: default 2).
    repeat: disentangler-decimator pairs (decimators, for `'tree'`) per scale;
      ignored by `'tebd'`.
    num_couplings: affine couplings per 2x2 block.
    hidden_units: conditioner MLP hidden widths.
    share_across_scales: share blocks across scales (`'mera'`, `'tree'`).
    dtype: `tf.float32` or `tf.float64`.
    conditioner_dtype: `None` (= `dtype`) or a lower precision such as
      `tf.bfloat16` for the conditioner MLPs; log-dets stay in `dtype`.
    seed: Python `int` or stateless seed for the initial weights.
    validate_args: Python `bool`.
    name: Python `str`.

  Returns:
    A `tfd.TransformedDistribution` with event shape `[L, L]`.

  Raises:
    TypeError, ValueError: on malformed arguments, naming the argument.
  """
  if architecture not in ARCHITECTURES:
    raise ValueError('`architecture` must be one of {}; got {!r}.'.format(
        ARCHITECTURES, architecture))
  lattice_size = checks.check_lattice_size(lattice_size, power_of_two=True)
  dtype = checks.check_float_dtype(dtype)
  common = dict(num_couplings=num_couplings, hidden_units=hidden_units,
                dtype=dtype, conditioner_dtype=conditioner_dtype, seed=seed,
                validate_args=validate_args)
  if architecture == 'tebd':
    flow = bijectors.TEBD(lattice_size, depth=2 if depth is None else depth,
                          **common)
  else:
    flow_class = bijectors.MERA if architecture == 'mera' else bijectors.Tree
    flow = flow_class(lattice_size, depth=depth, repeat=repeat,
                      share_across_scales=share_across_scales, **common)
  prior = tfd.Sample(tfd.Normal(tf.zeros([], dtype), tf.ones([], dtype)),
                     sample_shape=[lattice_size, lattice_size])
  return tfd.TransformedDistribution(prior, flow, validate_args=validate_args,
                                     name=name)


def neural_rg_from_config(config):
  """The NeuralRG model a JSON-able run configuration describes.

  This is how `examples/train_ising.py` records a run (in the model
  directory's `tfp_nrg_run.json`), so that other programs rebuild the same
  model before restoring its checkpoint.

  Args:
    config: `dict` with the keys `lattice_size`, `architecture`, `depth`,
      `repeat`, `num_couplings`, `hidden_units`, `share_across_scales`,
      `dtype` (`'float32'` or `'float64'`), `seed` and `symmetrize`;
      optionally `conditioner_dtype` (e.g. `'bfloat16'`); other keys are
      ignored.

  Returns:
    `neural_rg(...)`, wrapped in `Symmetrized` if `config['symmetrize']`.

  Raises:
    ValueError: if a key is missing.
  """
  keys = ('lattice_size', 'architecture', 'depth', 'repeat', 'num_couplings',
          'hidden_units', 'share_across_scales', 'dtype', 'seed',
          'symmetrize')
  missing = [k for k in keys if k not in config]
  if missing:
    raise ValueError('`config` lacks {}.'.format(', '.join(missing)))
  model = neural_rg(
      config['lattice_size'], architecture=config['architecture'],
      depth=config['depth'], repeat=config['repeat'],
      num_couplings=config['num_couplings'],
      hidden_units=config['hidden_units'],
      share_across_scales=config['share_across_scales'],
      dtype=config['dtype'],
      conditioner_dtype=config.get('conditioner_dtype'), seed=config['seed'])
  return symmetrized.Symmetrized(model) if config['symmetrize'] else model


def flow_of(model):
  """The NeuralRG bijector `g` (latent -> physical) of a model.

  Args:
    model: what `neural_rg` or `neural_rg_from_config` returns: a
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
