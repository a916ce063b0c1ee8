"""Lattice-size transfer: start a model from a trained one at another L.

A flow trained on a small lattice already knows the local physics; a run at
twice the size (or at another coupling) can start from it. `copy_weights`
copies every weight of a trained model that has a natural counterpart in a
new one, and leaves the rest as initialised:

- NeuralRG blocks: the block of scale `k` (its `r`-th disentangler or
  decimator) to the block of the same scale and place: the new lattice's
  extra, coarsest scale keeps its fresh blocks;
- the continuous flow: its frequencies, and its kernel weights (its hidden
  layer's too) by orbit of offsets, the orbit of `(a, b)` to the orbit of
  `(a, b)` (the kernel in lattice units; offsets the smaller lattice lacks
  stay zero);
- the `FourierScale` spectrum, interpolated linearly in momentum on the
  periodic Brillouin zone.

Example:

```python
config = dataclasses.replace(tfp_nrg.runs.load('runs/L8').config,
                             lattice_size=16, init_from='runs/L8')
tfp_nrg.transfer.parent_config(config)    # Refuses another architecture.
model = config.build_model()
tfp_nrg.transfer.start_from_parent(model, config)   # -> what was copied
```
"""

import numpy as np
import tensorflow as tf

from tfp_nrg import bijectors
from tfp_nrg import checkpoints
from tfp_nrg import distributions
from tfp_nrg import runs

__all__ = ['ARCHITECTURE_FIELDS', 'check_compatible', 'copy_weights',
           'parent_config', 'start_from_parent']

# RunConfig fields two runs must share for one to start from the other.
ARCHITECTURE_FIELDS = ('target', 'flow', 'architecture', 'repeat',
                       'share_across_scales', 'num_layers', 'num_couplings',
                       'hidden_units', 'z2', 'fourier_scale', 'dtype',
                       'conditioner_dtype', 'continuous_features',
                       'continuous_channels')


def check_compatible(config, parent_config):
  """Raises unless a run of `config` can start from one of `parent_config`.

  Raises:
    ValueError: naming the architecture fields that differ.
  """
  differ = [name for name in ARCHITECTURE_FIELDS
            if getattr(config, name) != getattr(parent_config, name)]
  if differ:
    raise ValueError(
        'Cannot start from a run of another architecture: it differs in {}.'
        .format(', '.join('{} ({!r} against {!r})'.format(
            name, getattr(parent_config, name), getattr(config, name))
                          for name in differ)))


def _copy_blocks(hierarchy, parent):
  """Copies each parent block to the layer of the same scale and place."""
  def places(flow):
    seen, keyed = {}, {}
    for layer in flow.layers:
      key = (layer.scale, layer.shifted)
      keyed[key + (seen.get(key, 0),)] = layer.block
      seen[key] = seen.get(key, 0) + 1
    return keyed
  ours, theirs = places(hierarchy), places(parent)
  copied = 0
  done = set()
  for place, block in ours.items():
    source = theirs.get(place)
    if source is None or id(block) in done:
      continue
    for target, value in zip(block.trainable_variables,
                             source.trainable_variables):
      target.assign(value)
    done.add(id(block))
    copied += 1
  return copied


def _copy_continuous(flow, parent):
  """Frequencies, and every kernel's weights orbit to orbit by offset."""
  flow.log_frequencies.assign(parent.log_frequencies)
  ours, count = bijectors.offset_orbits(flow.lattice_size)
  theirs, _ = bijectors.offset_orbits(parent.lattice_size)
  source = {}
  half = parent.lattice_size // 2
  for a in range(half + 1):
    for b in range(half + 1):
      source[(a, b)] = theirs[a, b]
  mapping = np.full(count, -1)
  for a in range(flow.lattice_size // 2 + 1):
    for b in range(flow.lattice_size // 2 + 1):
      if (a, b) in source:
        mapping[ours[a, b]] = source[(a, b)]
  present = mapping >= 0
  for weights, trained in zip(flow.orbit_weights, parent.orbit_weights):
    copied = tf.gather(trained, np.maximum(mapping, 0), axis=-1)
    weights.assign(tf.where(present, copied, tf.zeros_like(copied)))
  return int(present.sum())


def _interpolate_spectrum(spectrum, size):
  """A periodic `[L, L]` spectrum, linearly interpolated onto `[size, size]`."""
  old = spectrum.shape[0]
  position = np.arange(size) * old / size
  low = np.floor(position).astype(int)
  frac = position - low
  high = (low + 1) % old
  low %= old
  rows = (spectrum[low] * (1. - frac)[:, None] +
          spectrum[high] * frac[:, None])
  return rows[:, low] * (1. - frac) + rows[:, high] * frac


def copy_weights(model, parent):
  """Copies `parent`'s weights that have a counterpart in `model`.

  Args:
    model: a new model (`RunConfig.build_model`), at any lattice size.
    parent: a trained model of the same architecture (`check_compatible`).

  Returns:
    A `dict` of what was copied: `blocks` (NeuralRG blocks), `orbits`
    (continuous-flow kernel orbits) and `fourier_scale` (`True` if the
    spectrum was interpolated).
  """
  ours, theirs = distributions.flow_parts(model), distributions.flow_parts(parent)
  copied = dict(blocks=0, orbits=0, fourier_scale=False)
  if 'hierarchy' in ours and 'hierarchy' in theirs:
    copied['blocks'] = _copy_blocks(ours['hierarchy'], theirs['hierarchy'])
  if 'continuous' in ours and 'continuous' in theirs:
    copied['orbits'] = _copy_continuous(ours['continuous'],
                                        theirs['continuous'])
  if 'fourier_scale' in ours and 'fourier_scale' in theirs:
    spectrum = theirs['fourier_scale'].log_spectrum.numpy()
    ours['fourier_scale'].raw_log_spectrum.assign(
        _interpolate_spectrum(spectrum, ours['fourier_scale'].lattice_size))
    copied['fourier_scale'] = True
  return copied


def parent_config(config):
  """The `RunConfig` of the run `config.init_from` names, checked.

  Call it before any work: it reads only the parent's record.

  Raises:
    ValueError: if the parent directory holds no run, or one of another
      architecture (`check_compatible` names the fields).
  """
  try:
    parent = runs.RunConfig.from_dict(
        checkpoints.read_run_config(config.init_from))
  except (TypeError, ValueError) as e:
    raise ValueError('RunConfig field `init_from` {!r}: {}'.format(
        config.init_from, e)) from e
  check_compatible(config, parent)
  return parent


def start_from_parent(model, config):
  """Copies the weights of the run `config.init_from` into a new `model`.

  Returns:
    What `copy_weights` copied.
  """
  parent_config(config)
  return copy_weights(model, runs.load(config.init_from).model)
