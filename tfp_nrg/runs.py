"""Runs: one typed record of what a training run is, and loading it back.

A `RunConfig` holds every field that identifies a NeuralRG run (lattice,
temperature, architecture, optimizer, seed, ...). It validates itself, naming
the bad field; it builds the run's target, model and trainer; and it is what
`Trainer.fit` records in a model directory (`to_dict`), so that
`runs.load(model_dir)` rebuilds the same model and restores its latest
checkpoint. Programs that use a trained model load it through `runs.load`
alone.

Example:

```python
config = tfp_nrg.runs.RunConfig(lattice_size=8, num_steps=200)
target, model = config.build_target(), config.build_model()
trainer = config.build_trainer(model, target)
trainer.fit(config.num_steps, model_dir='/tmp/run', config=config)

run = tfp_nrg.runs.load('/tmp/run')       # Run(config, model, target, ...)
run.model.sample(4, seed=(1, 2))
```
"""

import collections
import dataclasses
import json
from typing import Optional, Tuple

import tensorflow as tf

from tfp_nrg import checkpoints
from tfp_nrg import distributions
from tfp_nrg import exact
from tfp_nrg import target_buffer
from tfp_nrg import targets
from tfp_nrg import training
from tfp_nrg.internal import checks
from tfp_nrg.internal import run_fields

__all__ = ['FLOWS', 'FORMAT_VERSION', 'Run', 'RunConfig', 'Z2_SYMMETRIES',
           'load']

FORMAT_VERSION = run_fields.FORMAT_VERSION
FLOWS = run_fields.FLOWS
Z2_SYMMETRIES = run_fields.Z2_SYMMETRIES
# The fraction of the peak learning rate a cosine schedule ends at.
_COSINE_ALPHA = 0.02
# Folded into the run's seed for the target buffer's draws.
_BUFFER_SEED = 7919


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything that identifies a NeuralRG training run; immutable.

  Fields that do not apply to `architecture` must stay `None` (`depth`,
  `repeat`, `share_across_scales` for `'tebd'`; `num_layers` otherwise);
  `repeat` and `share_across_scales` of `'mera'` and `'tree'` default to 2
  and `False`. `z2` is the model's Z2 symmetry (`Z2_SYMMETRIES`): the
  `Symmetrized` mixture, an equivariant flow, or none; `fourier_scale` ends
  the flow with a learned periodic convolution (`bijectors.FourierScale`).
  `num_steps` is the cosine schedule's horizon; a constant-rate run is not
  tied to it (its record keeps `num_steps=None`, so it may be extended).
  `target` is `'dual_ising'` (at `temperature`, default `T_c`) or `'phi4'`
  (with `m2` and `lam`; see `targets.Phi4`); fields of the other target stay
  `None`. With `forward_kl_weight > 0` (the default for `'dual_ising'`; a
  `'phi4'` run has no draws of its target, so 0) the run is mode-covering:
  a `TargetBuffer` of `buffer_size` draws of `pi` (`buffer_sweeps`
  checkerboard sweeps each, then `buffer_refresh_sweeps` local-kernel sweeps
  whenever drawn) feeds the forward KL, weighted by `forward_kl_weight`
  (`'constant'`, or `'cosine'` decaying to 0 over `num_steps`).
  `beta_annealing` in [0, 1) is the rate `a` of beta annealing (the reverse
  KL to `pi^(1 - a^(t+1))` at step `t`, `training.BetaAnnealing`); 0: none.
  `flow` (`FLOWS`) is `'neural_rg'`, `'continuous'` (the equivariant
  continuous flow, after a `FourierScale` if `fourier_scale`; any
  `lattice_size`, and the NeuralRG fields are not used) or `'hybrid'` (the
  continuous flow at the physical end of the NeuralRG); the continuous flow
  has `continuous_steps` Runge-Kutta steps (default 10),
  `continuous_features` sine features (default 16) and a hidden layer of
  `continuous_channels` channels (default 0: none), `None` for
  `'neural_rg'`. `init_from` names the run directory a new run starts
  from (`transfer.start_from_parent`), at another lattice size or coupling.
  """
  lattice_size: int = 8
  temperature: Optional[float] = None
  target: str = 'dual_ising'
  m2: Optional[float] = None
  lam: Optional[float] = None
  architecture: str = 'mera'
  depth: Optional[int] = None
  repeat: Optional[int] = None
  share_across_scales: Optional[bool] = None
  num_layers: Optional[int] = None
  num_couplings: int = 4
  hidden_units: Tuple[int, ...] = (32, 32)
  z2: str = 'mixture'
  fourier_scale: bool = True
  dtype: str = 'float32'
  conditioner_dtype: Optional[str] = None
  batch_size: int = 256
  num_steps: Optional[int] = 6000
  learning_rate: float = 2e-3
  lr_schedule: str = 'cosine'
  clip_norm: Optional[float] = 100.
  gradient_estimator: str = 'reparameterization'
  beta_annealing: float = 0.
  forward_kl_weight: Optional[float] = None
  forward_kl_schedule: str = 'constant'
  forward_batch_size: Optional[int] = None
  buffer_size: int = 4096
  buffer_sweeps: int = 1000
  buffer_refresh_sweeps: int = 1
  seed: int = 0
  flow: str = 'neural_rg'
  continuous_steps: Optional[int] = None
  continuous_features: Optional[int] = None
  continuous_channels: Optional[int] = None
  init_from: Optional[str] = None
  version: int = FORMAT_VERSION

  def __post_init__(self):
    for field in dataclasses.fields(self):
      object.__setattr__(self, field.name,
                         run_fields.plain_value(getattr(self, field.name)))
    if isinstance(self.hidden_units, (list, tuple)):
      object.__setattr__(self, 'hidden_units',
                         tuple(run_fields.plain_value(h)
                               for h in self.hidden_units))
    if self.target == 'dual_ising':
      if self.temperature is None:
        object.__setattr__(self, 'temperature', exact.CRITICAL_TEMPERATURE)
      if self.forward_kl_weight is None:
        object.__setattr__(self, 'forward_kl_weight', 1.)
    elif self.forward_kl_weight is None:
      object.__setattr__(self, 'forward_kl_weight', 0.)
    if self.architecture in ('mera', 'tree'):
      if self.repeat is None:
        object.__setattr__(self, 'repeat', 2)
      if self.share_across_scales is None:
        object.__setattr__(self, 'share_across_scales', False)
    if self.flow in ('continuous', 'hybrid'):
      for name, value in run_fields.CONTINUOUS_DEFAULTS.items():
        if getattr(self, name) is None:
          object.__setattr__(self, name, value)
    if self.lr_schedule == 'constant' and self.num_steps is not None:
      object.__setattr__(self, 'num_steps', None)
    run_fields.check_fields(self)

  def to_dict(self):
    """The fields as a JSON-able `dict` (what a model directory records)."""
    record = dataclasses.asdict(self)
    record['hidden_units'] = list(self.hidden_units)
    if not self.fourier_scale:  # As records from before the field read.
      del record['fourier_scale']
    if self.flow == 'neural_rg':  # Likewise.
      for name in ('flow',) + tuple(run_fields.CONTINUOUS_DEFAULTS):
        del record[name]
    elif not self.continuous_channels:  # As records from before the field.
      del record['continuous_channels']
    if self.init_from is None:
      del record['init_from']
    return record

  @classmethod
  def from_dict(cls, record):
    """The `RunConfig` of a `dict` written by `to_dict`.

    Records of earlier versions are read too: before `version` existed, a
    `'tebd'` record's `depth` was its number of layers and `num_steps` was
    kept only for a cosine schedule; before version 3, `symmetrize` (a
    `bool`) stood for `z2` (`'mixture'` or `'none'`). A record without
    `fourier_scale` has none: `to_dict` writes the field only when it is
    `True`, so that the records of runs from before it still match their
    configuration and resume.

    Raises:
      ValueError: on an unknown or missing field, or a bad value, naming it.
    """
    if not isinstance(record, dict):
      raise TypeError('A run record must be a dict; got {!r}.'.format(record))
    record = dict(record)
    if 'version' not in record:
      record = run_fields.upgrade_unversioned(record)
    if record.get('version') == 2:
      record = run_fields.upgrade_version_2(record)
    record.setdefault('fourier_scale', False)
    record.setdefault('flow', 'neural_rg')
    record.setdefault('init_from', None)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(record) - names)
    if unknown:
      raise ValueError('Unknown RunConfig field(s) {} in the record.'.format(
          ', '.join(unknown)))
    return cls(**record)

  def to_json(self):
    """The record as JSON text (`json.loads` gives `to_dict()`)."""
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_json(cls, text):
    """The `RunConfig` of JSON text written by `to_json`."""
    if not isinstance(text, (str, bytes)):
      raise TypeError('`text` must be JSON text; got {!r} (use `from_dict` '
                      'for a dict).'.format(type(text).__name__))
    return cls.from_dict(json.loads(text))

  @property
  def tf_dtype(self):
    return tf.as_dtype(self.dtype)

  @property
  def sampling_continuous_steps(self):
    """Runge-Kutta steps to evaluate and sample the continuous flow with.

    Twice the training's `continuous_steps` (the solver's error in `ln q`
    falls about 16-fold): a Metropolis-Hastings chain is exact only for the
    density computed, and at the training's steps that error can bias
    observables by several of their errors. `None` for `'neural_rg'`.
    """
    return None if self.flow == 'neural_rg' else 2 * self.continuous_steps

  def build_target(self, temperature=None):
    """The target density; a `DualIsing` at `temperature` (default the run's).

    Raises:
      ValueError: for `temperature` with a target that has none (`'phi4'`),
        or a bad `m2`, `lam` (see `targets.Phi4`).
    """
    if self.target == 'phi4':
      if temperature is not None:
        raise ValueError('`temperature` does not apply to a phi4 run.')
      return targets.Phi4(self.lattice_size, self.m2, self.lam,
                          dtype=self.tf_dtype)
    return targets.DualIsing(
        self.lattice_size,
        self.temperature if temperature is None else temperature,
        dtype=self.tf_dtype)

  def build_model(self):
    """A new model of this configuration (build it in a strategy's scope)."""
    model = None if self.flow == 'continuous' else self._build_neural_rg()
    if self.flow != 'neural_rg':
      # The hybrid's Fourier scale is the NeuralRG's own.
      model = distributions.continuous_flow(
          self.lattice_size, inner=model and model.bijector,
          fourier_scale=self.fourier_scale and model is None,
          num_features=self.continuous_features,
          num_channels=self.continuous_channels,
          num_steps=self.continuous_steps, dtype=self.tf_dtype,
          seed=self.seed)
    return distributions.Symmetrized(model) if self.z2 == 'mixture' else model

  def _build_neural_rg(self):
    return distributions.neural_rg(
        self.lattice_size, architecture=self.architecture, depth=self.depth,
        repeat=self.repeat, share_across_scales=self.share_across_scales,
        num_layers=self.num_layers, num_couplings=self.num_couplings,
        hidden_units=self.hidden_units, dtype=self.tf_dtype,
        conditioner_dtype=self.conditioner_dtype,
        z2_equivariant=self.z2 == 'equivariant',
        fourier_scale=self.fourier_scale, seed=self.seed)

  def learning_rate_schedule(self):
    """The peak rate, or a cosine decay to 2% of it over `num_steps`."""
    if self.lr_schedule == 'constant':
      return self.learning_rate
    return tf.keras.optimizers.schedules.CosineDecay(
        self.learning_rate, decay_steps=self.num_steps, alpha=_COSINE_ALPHA)

  def build_trainer(self, model, target, jit_compile=True, strategy=None,
                    buffer_progress=None, **kwargs):
    """The `training.Trainer` of this run for `model` and `target`.

    Args:
      model: from `build_model` (in `strategy`'s scope, if any).
      target: from `build_target`.
      jit_compile: Python `bool`.
      strategy: optional `tf.distribute.Strategy`.
      buffer_progress: optional callable `(done, total)`, called as the
        target buffer is drawn (see `target_buffer.sample_target`).
      **kwargs: further `Trainer` arguments.

    Returns:
      A `Trainer` with this run's batch, optimizer, estimator and seed, the
      target's exact `ln Z` where it is known and, for a mode-covering run,
      its target buffer (drawn here, compiled with `jit_compile`).
    """
    try:
      exact_log_normalizer = target.exact_log_normalizer()
    except NotImplementedError:
      exact_log_normalizer = None
    if self.forward_kl_weight > 0.:
      kwargs.update(target_buffer=self.build_target_buffer(
          target, jit_compile, progress=buffer_progress),
                    forward_kl_weight=self.forward_kl_weight_schedule(),
                    forward_batch_size=self.forward_batch_size)
    return training.Trainer(
        model, target.log_prob, batch_size=self.batch_size,
        learning_rate=self.learning_rate_schedule(),
        clip_norm=self.clip_norm,
        gradient_estimator=run_fields.GRADIENT_ESTIMATORS[
            self.gradient_estimator],
        jit_compile=jit_compile, seed=self.seed,
        exact_log_normalizer=exact_log_normalizer, strategy=strategy,
        target_scale=(training.BetaAnnealing(self.beta_annealing)
                      if self.beta_annealing else None),
        **kwargs)


  def forward_kl_weight_schedule(self):
    """The forward KL's weight: a float, or a cosine decay to 0."""
    if self.forward_kl_schedule == 'constant':
      return self.forward_kl_weight
    return tf.keras.optimizers.schedules.CosineDecay(
        self.forward_kl_weight, decay_steps=self.num_steps, alpha=0.)

  def build_target_buffer(self, target, jit_compile=True, progress=None):
    """`buffer_size` draws of `target`, refreshed by its local kernel.

    The draws come from `target_buffer.sample_target` (`progress` is passed
    on).
    """
    seed = tf.random.experimental.stateless_fold_in(
        checks.stateless_seed(self.seed), _BUFFER_SEED)
    draws = target_buffer.sample_target(
        target, self.buffer_size, self.buffer_sweeps, seed,
        jit_compile=jit_compile, progress=progress)
    kernel = (target.local_kernel(self.buffer_refresh_sweeps)
              if self.buffer_refresh_sweeps else None)
    return target_buffer.TargetBuffer(draws, kernel=kernel)


class Run(collections.namedtuple('Run', [
    'config',     # RunConfig.
    'model',      # The trained distribution, restored.
    'target',     # The target it was trained on.
    'step',       # Training steps of the restored checkpoint.
    'model_dir',
])):
  """A trained run, as `load` returns it."""
  __slots__ = ()


def load(model_dir, temperature=None, target=None, continuous_steps=None,
         sampling=False):
  """Loads the run in `model_dir`: its config, restored model and target.

  Args:
    model_dir: a directory `Trainer.fit` wrote with a `RunConfig` record.
    temperature: optional Python float, build the target at this
      temperature instead of the run's (the model is unchanged).
    target: optional name of the target the caller works with (`'dual_ising'`
      or `'phi4'`); a run of another target is refused before its model is
      built.
    continuous_steps: optional Python `int` >= 1, integrate the run's
      continuous flow with this many Runge-Kutta steps instead of its own
      (the weights do not depend on them; `config` then records them). The
      solver's error in `ln q` falls about 16-fold per doubling
      (`distributions.integration_error`), so evaluating with more steps
      than training makes `ln q` closer to the density of the draws.
    sampling: Python `bool`; if `True` and `continuous_steps` is `None`, a
      continuous flow is integrated with the config's
      `sampling_continuous_steps` (twice the training's), as the examples
      evaluate and sample it.

  Returns:
    A `Run`.

  Raises:
    ValueError: if `model_dir` holds no run, its record is not a valid
      `RunConfig`, the checkpoint does not fit it, or `continuous_steps` is
      given for a run without a continuous flow.
  """
  record = checkpoints.read_run_config(model_dir)
  try:
    config = RunConfig.from_dict(record)
  except (TypeError, ValueError) as e:
    raise ValueError('The run record in {!r} is not a valid RunConfig: '
                     '{}'.format(model_dir, e)) from e
  if target is not None and config.target != target:
    raise ValueError('{!r} holds a {!r} run; this needs a {!r} run.'.format(
        model_dir, config.target, target))
  if temperature is not None:
    temperature = checks.check_finite_number(temperature, 'temperature',
                                             positive=True)
  if continuous_steps is None and sampling:
    continuous_steps = config.sampling_continuous_steps
  if continuous_steps is not None:
    continuous_steps = checks.check_positive_int(continuous_steps,
                                                 'continuous_steps')
    if config.flow == 'neural_rg':
      raise ValueError('`continuous_steps` was given, but {!r} holds a '
                       'NeuralRG run, which has no continuous flow.'.format(
                           model_dir))
    config = dataclasses.replace(config, continuous_steps=continuous_steps)
  model = config.build_model()
  step = checkpoints.restore_latest(model, model_dir)
  return Run(config=config, model=model,
             target=config.build_target(temperature), step=step,
             model_dir=model_dir)

