"""The fields of a run record: their vocabulary, their checks, older versions.

`runs.RunConfig` is the typed record of a training run; this module holds
what its fields may be (`FLOWS`, `Z2_SYMMETRIES`, ...), `check_fields`, which
names the first bad one, and the upgrades that read records written by
earlier versions of the format.
"""

import numpy as np
import tensorflow as tf

from tfp_nrg import distributions
from tfp_nrg import targets
from tfp_nrg import training
from tfp_nrg.internal import checks

__all__ = [
    'CONDITIONER_DTYPES',
    'CONTINUOUS_DEFAULTS',
    'FLOWS',
    'FORMAT_VERSION',
    'FORWARD_KL_SCHEDULES',
    'GRADIENT_ESTIMATORS',
    'LR_SCHEDULES',
    'TARGETS',
    'Z2_SYMMETRIES',
    'check_fields',
    'plain_value',
    'upgrade_unversioned',
    'upgrade_version_2',
]

FORMAT_VERSION = 3
TARGETS = ('dual_ising', 'phi4')
LR_SCHEDULES = ('cosine', 'constant')
FORWARD_KL_SCHEDULES = ('constant', 'cosine')
# How a model is made Z2-invariant: `Symmetrized` mixture, odd couplings
# (`neural_rg(z2_equivariant=True)`), or not at all.
Z2_SYMMETRIES = ('mixture', 'equivariant', 'none')
# The model's flow: NeuralRG, the equivariant continuous flow
# (`distributions.continuous_flow`), or the continuous flow at the physical
# end of a NeuralRG (the hybrid).
FLOWS = ('neural_rg', 'continuous', 'hybrid')
CONTINUOUS_DEFAULTS = dict(continuous_steps=10, continuous_features=16,
                           continuous_channels=0)
# Precisions of the conditioner networks; None: the model's dtype.
CONDITIONER_DTYPES = (None, 'float16', 'bfloat16', 'float32', 'float64')
GRADIENT_ESTIMATORS = {
    'reparameterization': training.REPARAMETERIZATION,
    'path': training.DOUBLY_REPARAMETERIZED,
}


def check_fields(config):
  """Raises `TypeError`/`ValueError` naming the first bad field of `config`."""
  def one_of(name, allowed):
    if getattr(config, name) not in allowed:
      raise ValueError('RunConfig field `{}` must be one of {}; got '
                       '{!r}.'.format(name, list(allowed),
                                      getattr(config, name)))
  if config.version != FORMAT_VERSION:
    raise ValueError('RunConfig field `version` must be {}; got {!r}.'.format(
        FORMAT_VERSION, config.version))
  one_of('target', TARGETS)
  one_of('dtype', ('float32', 'float64'))
  if config.target == 'dual_ising':
    checks.check_finite_number(config.temperature, 'temperature',
                               positive=True)
    for name in ('m2', 'lam'):
      if getattr(config, name) is not None:
        raise ValueError('RunConfig field `{}` does not apply to target '
                         '\'dual_ising\'.'.format(name))
  else:
    if config.temperature is not None:
      raise ValueError('RunConfig field `temperature` does not apply to '
                       'target {!r}.'.format(config.target))
    for name in ('m2', 'lam'):
      if getattr(config, name) is None:
        raise ValueError('RunConfig field `{}` is needed for target '
                         '{!r}.'.format(name, config.target))
    config.build_target()  # Checks m2 and lam.
    if config.forward_kl_weight:
      raise ValueError('RunConfig field `forward_kl_weight` must be 0 for '
                       'target {!r}: the forward KL needs draws of the '
                       'target, which only \'dual_ising\' provides '
                       '(checkerboard Metropolis).'.format(config.target))
  one_of('conditioner_dtype', CONDITIONER_DTYPES)
  for name in ('fourier_scale', 'share_across_scales'):
    value = getattr(config, name)
    if not (isinstance(value, bool) or
            (value is None and name == 'share_across_scales')):
      raise TypeError('RunConfig field `{}` must be a bool; got '
                      '{!r}.'.format(name, value))
  one_of('lr_schedule', LR_SCHEDULES)
  one_of('gradient_estimator', GRADIENT_ESTIMATORS)
  one_of('z2', Z2_SYMMETRIES)
  one_of('forward_kl_schedule', FORWARD_KL_SCHEDULES)
  checks.check_finite_number(config.forward_kl_weight, 'forward_kl_weight')
  if config.forward_kl_weight < 0.:
    raise ValueError('RunConfig field `forward_kl_weight` must be '
                     'non-negative; got {}.'.format(config.forward_kl_weight))
  if config.forward_kl_schedule == 'cosine' and config.num_steps is None:
    raise ValueError('RunConfig field `forward_kl_schedule`=\'cosine\' '
                     'needs `num_steps`.')
  if config.forward_batch_size is not None:
    checks.check_positive_int(config.forward_batch_size, 'forward_batch_size')
  checks.check_positive_int(config.buffer_size, 'buffer_size')
  checks.check_positive_int(config.buffer_sweeps, 'buffer_sweeps')
  checks.check_positive_int(config.buffer_refresh_sweeps,
                            'buffer_refresh_sweeps', minimum=0)
  one_of('flow', FLOWS)
  if config.flow == 'neural_rg':
    for name in CONTINUOUS_DEFAULTS:
      if getattr(config, name) is not None:
        raise ValueError('RunConfig field `{}` applies to the continuous '
                         'and hybrid flows only.'.format(name))
  else:
    checks.check_positive_int(config.continuous_steps, 'continuous_steps')
    checks.check_positive_int(config.continuous_features,
                              'continuous_features', minimum=0)
    checks.check_positive_int(config.continuous_channels,
                              'continuous_channels', minimum=0)
  checks.check_lattice_size(config.lattice_size,
                            power_of_two=config.flow != 'continuous',
                            name='lattice_size')
  if config.target == 'dual_ising':  # Does the dtype resolve T?
    targets.couplings.torus_spectrum(config.lattice_size, config.temperature,
                                     dtype=config.dtype)
  distributions.check_architecture_arguments(
      config.architecture, config.depth, config.repeat,
      config.share_across_scales, config.num_layers)
  for name in ('depth', 'repeat', 'num_layers'):
    if getattr(config, name) is not None:
      checks.check_positive_int(getattr(config, name), name)
  if config.depth is not None and config.depth > checks.num_scales(
      config.lattice_size):
    raise ValueError('RunConfig field `depth` must be at most log2('
                     'lattice_size) = {}; got {}.'.format(
                         checks.num_scales(config.lattice_size), config.depth))
  checks.check_positive_int(config.num_couplings, 'num_couplings')
  if not config.hidden_units or not all(
      isinstance(h, int) and not isinstance(h, bool) and h > 0
      for h in config.hidden_units):
    raise ValueError('RunConfig field `hidden_units` must be a non-empty '
                     'sequence of positive ints; got {!r}.'.format(
                         config.hidden_units))
  checks.check_positive_int(config.batch_size, 'batch_size', minimum=2)
  if config.lr_schedule == 'cosine':
    if config.num_steps is None:
      raise ValueError('RunConfig field `num_steps` (the cosine schedule\'s '
                       'horizon) must be set for lr_schedule=\'cosine\'.')
    checks.check_positive_int(config.num_steps, 'num_steps')
  checks.check_finite_number(config.learning_rate, 'learning_rate',
                             positive=True)
  if config.clip_norm is not None:
    checks.check_finite_number(config.clip_norm, 'clip_norm', positive=True)
  if not 0. <= checks.check_finite_number(config.beta_annealing,
                                          'beta_annealing') < 1.:
    raise ValueError('RunConfig field `beta_annealing` must be in [0, 1); '
                     'got {!r}.'.format(config.beta_annealing))
  checks.check_positive_int(config.seed, 'seed', minimum=-2**31)
  if config.init_from is not None and not isinstance(config.init_from, str):
    raise TypeError('RunConfig field `init_from` must be a run directory '
                    '(str); got {!r}.'.format(config.init_from))


def plain_value(value):
  """A numpy scalar as its Python value; a dtype as its name."""
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, (tf.DType, np.dtype)) or (
      isinstance(value, type) and issubclass(value, np.generic)):
    return tf.as_dtype(value).name
  return value


def upgrade_version_2(record):
  """A version-2 record in version 3's fields."""
  record['z2'] = 'mixture' if record.pop('symmetrize', True) else 'none'
  record['version'] = 3
  return record


def upgrade_unversioned(record):
  """A record written before `version` existed, in version 2's fields."""
  record.setdefault('forward_kl_weight', 0.)
  if record.get('lr_schedule') == 'constant':
    record.setdefault('num_steps', None)
  if record.get('architecture') == 'tebd':
    record['num_layers'] = record.pop('depth', None) or 2
    record['repeat'] = record['share_across_scales'] = None
  record['version'] = 2
  return record
