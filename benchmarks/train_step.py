r"""Training steps per second of NeuralRG and the continuous flow, peak memory.

MERA, 10 affine couplings per block, MLP conditioners with 3 hidden layers of
10 units, batch 512, float32, at L = 8 and 16, with and without XLA, with the
Z2 symmetry as the `Symmetrized` mixture (an extra inverse pass for q(-x)) or
as an equivariant flow (`neural_rg(z2_equivariant=True)`, one pass), and
with or without a `FourierScale` at the flow's physical end; and the
equivariant continuous flow (`--flows=continuous`: a `FourierScale`, then
`--continuous_features` sine features, and a hidden layer of
`--continuous_channels` channels if not 0, integrated by `--continuous_steps`
RK4 steps, as the Ising example's default; odd, so one pass). Each
configuration runs in a fresh subprocess so that its peak resident memory
(ru_maxrss) is its own.

Beside each time: the step's arithmetic and the time it would take at this
machine's float32 matmul rate (measured on a 1024 x 1024 matmul): the FLOP
bound. A reverse-KL step is 3 flow passes (forward and backward), and the
mixture's inverse pass adds 3 more. NeuralRG's pass counts the conditioners'
multiply-adds, from the network. The continuous flow's pass counts, per
evaluation of its vector field (4 per RK4 step) and per field of `N = L^2`
sites: `K + 2` real 2-D FFTs at `2.5 N log2 N` each (the features' and the
velocity's), the spectral products and the sum over features, the features
and their slopes (a sine or cosine counted as one operation, so the bound is
low); with `C` hidden channels, `3 C + K + 1` FFTs more (the hidden layer's,
its activation's and slope's, and the diagonal's), the products of the
`C x (K + 1)` hidden and product kernels, the tanh and its slope; and the
Fourier scale's two FFTs.

  python benchmarks/train_step.py [--lattice_sizes=8,16] [--steps=30] \
      [--flows=neural_rg,continuous] [--z2=mixture,equivariant] \
      [--jit=xla,graph] [--fourier_scale=false,true] [--opt_levels=3,2] \
      [--profile]

`--opt_levels` sets XLA's backend (LLVM) optimization level of each XLA
configuration (`--xla_backend_optimization_level`, 3 by default): a lower one
compiles faster, and this shows what it costs the compiled step.

With `--profile`, each XLA configuration also traces 5 steps with
`tf.profiler` (XLA:CPU emitting one trace event per HLO op) and prints where
the step's time goes: the time of every HLO op, summed by kind (matmuls,
tanh fusions, data movement, reductions, other elementwise work, ...).

For reference, the PyTorch implementation of the paper takes 1.17 s per step
at L = 8 and 3.3 s at L = 16 on this 2-core machine class (batch 512, one
thread); the `vs PyTorch` column compares only the configuration it ran
(batch 512, the Z2 mixture, no Fourier scale).
"""

import collections
import glob
import itertools
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

import flag_checks

_FLOWS = flags.DEFINE_list('flows', ['neural_rg', 'continuous'],
                           'Flows to time: neural_rg, continuous.')
_CONTINUOUS_FEATURES = flags.DEFINE_integer(
    'continuous_features', 8, 'Sine features K of the continuous flow.')
_CONTINUOUS_STEPS = flags.DEFINE_integer(
    'continuous_steps', 10, 'RK4 steps of the continuous flow.')
_CONTINUOUS_CHANNELS = flags.DEFINE_integer(
    'continuous_channels', 0, 'Hidden channels C of the continuous flow.')
_LATTICE_SIZES = flags.DEFINE_list('lattice_sizes', ['8', '16'],
                                   'Lattice sizes L.')
_STEPS = flags.DEFINE_integer('steps', 30, 'Timed steps per configuration.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 512, 'Batch size.')
_Z2 = flags.DEFINE_list('z2', ['mixture', 'equivariant'],
                        'Z2 symmetries to compare (mixture, equivariant).')
_JIT = flags.DEFINE_list('jit', ['xla', 'graph'],
                         'Compilation: xla, graph (tf.function alone).')
_FOURIER = flags.DEFINE_list(
    'fourier_scale', ['false'],
    'Whether the flow ends with a FourierScale: false, true, or both.')
_OPT_LEVELS = flags.DEFINE_list(
    'opt_levels', ['3'], 'XLA backend (LLVM) optimization levels, 0-3.')
_PROFILE = flags.DEFINE_bool(
    'profile', False, 'Also trace 5 XLA steps and print the HLO ops\' time '
    'by kind.')
_CHILD = flags.DEFINE_string('child', None, 'Internal: run one configuration.')
flag_checks.check_each('lattice_sizes',
                       flag_checks.run_config_field('lattice_size', int))
flag_checks.check_each('flows', flag_checks.one_of(('neural_rg',
                                                     'continuous')))
flag_checks.check_each('z2', flag_checks.run_config_field('z2'))
flag_checks.check_each('batch_size',
                       flag_checks.run_config_field('batch_size', int))
flag_checks.check_each('jit', flag_checks.one_of(('xla', 'graph')))
flag_checks.check_each('fourier_scale', flag_checks.one_of(('false', 'true')))
flag_checks.check_each('opt_levels', flag_checks.one_of(('0', '1', '2', '3')))
flag_checks.at_least('steps', 1)
flag_checks.at_least('continuous_features', 0)
flag_checks.at_least('continuous_steps', 1)
flag_checks.at_least('continuous_channels', 0)
NUM_COUPLINGS, HIDDEN_UNITS = 10, (10, 10, 10)

PYTORCH_SECONDS_PER_STEP = {8: 1.17, 16: 3.3}


def flow_flops_per_sample(flow):
  """Multiply-adds x 2 of the conditioners in one pass of `flow`."""
  sizes = (2,) + HIDDEN_UNITS + (4,)
  per_patch = NUM_COUPLINGS * sum(2 * a * b for a, b in zip(sizes[:-1],
                                                           sizes[1:]))
  return sum(per_patch * layer.num_patches for layer in flow.layers)


def continuous_flops_per_sample(lattice_size, num_features, num_steps,
                                num_channels):
  """Operations of one pass of the Fourier scale and the continuous flow."""
  sites = lattice_size**2
  fft = 2.5 * sites * math.log2(sites)
  channels = num_features + 1
  field = ((channels + 1) * fft           # rfft2d of each feature, irfft2d.
           + 2 * channels * sites         # Products with the real spectra.
           + 2 * channels * sites         # Their sum, and the diagonal's.
           + 4 * num_features * sites)    # sin, cos and their arguments.
  if num_channels:
    field += ((3 * num_channels + channels) * fft   # The hidden layer's.
              + 8 * num_channels * channels * sites  # Two C x (K + 1) products.
              + 4 * num_channels * sites             # U_c's product and sum.
              + 4 * num_channels * sites             # tanh and its slope.
              + channels * sites)                    # The diagonal's sum.
  return 4 * num_steps * field + 2 * fft


def matmul_gflops(size=1024, repeats=20):
  """This machine's float32 matmul rate, GFLOP/s."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.stateless_normal([size, size], seed=(1, 2))
  matmul = tf.function(lambda a: tf.linalg.matmul(a, a))
  matmul(a).numpy()
  start = time.time()
  for _ in range(repeats):
    matmul(a).numpy()
  return 2. * size**3 * repeats / (time.time() - start) / 1e9


# HLO op kinds, matched in order against an op's lower-cased name (XLA names
# fusions by their root ops; dots keep their TensorFlow names, MatMul...).
_OP_KINDS = (
    ('matmul', ('matmul', 'dot')),
    ('tanh fusions', ('tanh',)),
    ('exp/log fusions', ('exponential', 'log')),
    ('data movement', ('concatenate', 'slice', 'transpose', 'copy', 'pad',
                       'gather', 'scatter', 'bitcast', 'reshape', 'broadcast',
                       'select')),
    ('reductions', ('reduce',)),
    ('fft', ('fft',)),
)


def profile_ops(step_fn, num_steps=5):
  """Seconds per step of the HLO ops of `step_fn`, summed by kind.

  Needs `--xla_cpu_enable_xprof_traceme` in `XLA_FLAGS` before TensorFlow
  starts (the parent passes it to the child process).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  log_dir = tempfile.mkdtemp()
  tf.profiler.experimental.start(log_dir)
  for _ in range(num_steps):
    step_fn()
  tf.profiler.experimental.stop()
  space = xplane_pb2.XSpace()
  with open(glob.glob(os.path.join(log_dir, '**', '*.xplane.pb'),
                      recursive=True)[0], 'rb') as f:
    space.ParseFromString(f.read())
  seconds, counts = collections.Counter(), collections.Counter()
  for plane in space.planes:
    for line in plane.lines:
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if not re.fullmatch(r'[\w.-]+\.\d+', name):
          continue  # Not an HLO op (runtime and Python events).
        lower = name.lower()
        kind = next((k for k, keys in _OP_KINDS
                     if any(key in lower for key in keys)),
                    'other elementwise')
        seconds[kind] += event.duration_ps * 1e-12 / num_steps
        counts[kind] += 1. / num_steps
  return {kind: dict(seconds=seconds[kind], ops=counts[kind])
          for kind in seconds}


def build(flow, lattice_size, z2, fourier_scale):
  """The model of a configuration, and its operations per draw and step."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  if flow == 'continuous':
    model = tfp_nrg.distributions.continuous_flow(
        lattice_size, fourier_scale=True,
        num_features=_CONTINUOUS_FEATURES.value,
        num_channels=_CONTINUOUS_CHANNELS.value,
        num_steps=_CONTINUOUS_STEPS.value, dtype=tf.float32)
    return model, 3 * continuous_flops_per_sample(
        lattice_size, _CONTINUOUS_FEATURES.value, _CONTINUOUS_STEPS.value,
        _CONTINUOUS_CHANNELS.value)
  model = tfp_nrg.neural_rg(
      lattice_size, num_couplings=NUM_COUPLINGS, hidden_units=HIDDEN_UNITS,
      z2_equivariant=z2 == 'equivariant', fourier_scale=fourier_scale,
      dtype=tf.float32)
  flops = (3 if z2 == 'equivariant' else 6) * flow_flops_per_sample(
      tfp_nrg.distributions.flow_of(model))
  if z2 == 'mixture':
    model = tfp_nrg.Symmetrized(model)
  return model, flops


def measure(flow, lattice_size, jit_compile, z2, fourier_scale, steps,
            batch_size):
  """Times `steps` training steps after the first (compiling) one."""
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  target = tfp_nrg.DualIsing(lattice_size, tfp_nrg.exact.CRITICAL_TEMPERATURE)
  model, flops_per_draw = build(flow, lattice_size, z2, fourier_scale)
  flops = batch_size * flops_per_draw
  trainer = tfp_nrg.training.Trainer(model, target.log_prob,
                                     batch_size=batch_size, seed=1,
                                     jit_compile=jit_compile)
  start = time.time()
  trainer.train_step()
  first = time.time() - start
  start = time.time()
  for _ in range(steps):
    trainer.train_step()
  per_step = (time.time() - start) / steps
  peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.
  profile = (profile_ops(trainer.train_step)
             if _PROFILE.value and jit_compile else None)
  return dict(flow=flow, lattice_size=lattice_size, jit_compile=jit_compile,
              z2=z2,
              fourier_scale=fourier_scale,
              first_step_seconds=first, seconds_per_step=per_step,
              steps_per_second=1. / per_step, peak_rss_mib=peak_mib,
              gflop_per_step=flops / 1e9, profile=profile)


def print_profile(profile):
  """The HLO ops' time by kind, largest first."""
  total = sum(v['seconds'] for v in profile.values())
  print('       HLO ops, summed over both threads: {:.4f} s/step'.format(total))
  for kind, v in sorted(profile.items(), key=lambda kv: -kv[1]['seconds']):
    print('       {:<18} {:>8.4f} s {:>5.1f}% {:>7.0f} ops/step'.format(
        kind, v['seconds'], 100. * v['seconds'] / total, v['ops']))


def main(argv):
  del argv
  if _CHILD.value:
    flow, size, jit, z2, fourier = _CHILD.value.split(',')
    print(json.dumps(measure(flow, int(size), jit == 'xla', z2,
                             fourier == 'true', _STEPS.value,
                             _BATCH_SIZE.value)))
    return
  if not set(_FOURIER.value) <= {'false', 'true'}:
    raise app.UsageError('--fourier_scale takes false, true or both; got '
                         '{}.'.format(','.join(_FOURIER.value)))
  gflops = matmul_gflops()
  print('float32 matmul rate of this machine: {:.0f} GFLOP/s'.format(gflops))
  print('{:>10} {:>4} {:>6} {:>2} {:>12} {:>7} {:>11} {:>9} {:>8} {:>10} '
        '{:>10} {:>9} {:>9}'.format('flow', 'L', 'jit', 'O', 'z2', 'fourier',
                             'first step', 's/step',
                       'steps/s',
                       'vs PyTorch', 'GFLOP/step', 'bound s', 'peak MiB'))
  for size in (int(s) for s in _LATTICE_SIZES.value):
    for flow, jit in itertools.product(_FLOWS.value, _JIT.value):
      variants = itertools.product(
          _Z2.value if flow == 'neural_rg' else ['odd'],
          _FOURIER.value if flow == 'neural_rg' else ['true'],
          _OPT_LEVELS.value if jit == 'xla' else ['-'])
      for z2, fourier, level in variants:
        env = dict(os.environ)
        xla_flags = [env.get('XLA_FLAGS', '')]
        if level != '-':
          xla_flags.append('--xla_backend_optimization_level=' + level)
        if _PROFILE.value:
          xla_flags.append('--xla_cpu_enable_xprof_traceme=true')
        env['XLA_FLAGS'] = ' '.join(xla_flags).strip()
        out = subprocess.run(
            [sys.executable, __file__,
             '--child={},{},{},{},{}'.format(flow, size, jit, z2, fourier),
             '--steps={}'.format(_STEPS.value),
             '--continuous_features={}'.format(_CONTINUOUS_FEATURES.value),
             '--continuous_steps={}'.format(_CONTINUOUS_STEPS.value),
             '--continuous_channels={}'.format(_CONTINUOUS_CHANNELS.value),
             '--batch_size={}'.format(_BATCH_SIZE.value),
             '--profile={}'.format(_PROFILE.value)],
            capture_output=True, text=True, check=True, env=env)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        reference = PYTORCH_SECONDS_PER_STEP.get(size)
        speedup = ('{:.1f}x'.format(reference / row['seconds_per_step'])
                   if reference and _BATCH_SIZE.value == 512 and
                   flow == 'neural_rg' and z2 == 'mixture' and
                   fourier == 'false' else '-')
        print(('{:>10} {:>4} {:>6} {:>2} {:>12} {:>7} {:>10.1f}s {:>9.4f} '
               '{:>8.2f} {:>10} {:>10.2f} {:>9.4f} {:>9.0f}').format(
                   flow, size, jit, level, z2, fourier,
                   row['first_step_seconds'],
                   row['seconds_per_step'], row['steps_per_second'], speedup,
                   row['gflop_per_step'], row['gflop_per_step'] / gflops,
                   row['peak_rss_mib']), flush=True)
        if row['profile']:
          print_profile(row['profile'])


if __name__ == '__main__':
  flag_checks.run(main)
