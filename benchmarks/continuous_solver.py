r"""How to integrate the continuous flow: fixed-step RK4 against TFP's FFJORD.

Times one reverse-KL training step (draws, `ln q`, the loss and its gradient)
of the same equivariant vector field (`tfp_nrg.bijectors.ContinuousFlow`) on
phi^4 at L = 16, integrated two ways, side by side:

  rk4       the package's bijector: fixed-step classical Runge-Kutta, the
            gradient by backpropagation through the solver;
  ffjord    `tfp.bijectors.FFJORD` with the same field and its exact
            divergence (a custom `trace_augmentation_fn`), TFP's adaptive
            Dormand-Prince solver, the gradient by its adjoint method.

Each under XLA and as a plain TF graph, where it compiles; the draws' `ln q`
is compared, so that both integrate one flow.

Usage:

  python benchmarks/continuous_solver.py --lattice_size=16 --batch_size=64
"""

import time

from absl import flags
import tensorflow as tf
import tensorflow_probability as tfp

import flag_checks
import tfp_nrg

tfb = tfp.bijectors
tfd = tfp.distributions

_LATTICE_SIZE = flags.DEFINE_integer('lattice_size', 16, 'Lattice size L.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'Draws per step.')
_NUM_STEPS = flags.DEFINE_integer('num_steps', 5, 'RK4 steps.')
_NUM_FEATURES = flags.DEFINE_integer('num_features', 8, 'Sine features.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed steps per row.')
flag_checks.check_each('lattice_size',
                       flag_checks.run_config_field('lattice_size', int))
flag_checks.at_least('batch_size', 2)
flag_checks.at_least('num_steps', 1)
flag_checks.at_least('num_features', 0)
flag_checks.at_least('repeats', 1)


def ffjord(flow):
  """FFJORD over `flow`'s vector field, with its exact Jacobian diagonal."""
  def trace_augmentation_fn(ode_fn, state_shape, dtype):
    del ode_fn, state_shape, dtype
    def augmented(time, state_and_log_det, **kwargs):
      del kwargs
      return flow.vector_field(state_and_log_det[0], time)
    return augmented
  return tfb.FFJORD(
      state_time_derivative_fn=lambda time, state: flow.vector_field(
          state, time)[0],
      trace_augmentation_fn=trace_augmentation_fn)


def main(argv):
  del argv
  size = _LATTICE_SIZE.value
  target = tfp_nrg.Phi4(size, m2=-4., lam=4.5)
  flow = tfp_nrg.bijectors.ContinuousFlow(
      size, num_features=_NUM_FEATURES.value, num_steps=_NUM_STEPS.value,
      initial_weight_scale=2e-3, seed=1)
  base = tfd.Sample(tfd.Normal(0., 1.), [size, size])
  models = {'rk4': tfd.TransformedDistribution(base, flow),
            'ffjord': tfd.TransformedDistribution(base, ffjord(flow))}
  variables = flow.trainable_variables
  print('L = {}, batch {}, {} features; RK4 with {} steps'.format(
      size, _BATCH_SIZE.value, _NUM_FEATURES.value, _NUM_STEPS.value))
  print('{:<8} {:<6} {:>11} {:>12} {}'.format('solver', 'mode', 'compile s',
                                               's per step', 'mean ln q'))
  for name, model in models.items():
    for jit in (True, False):
      def step():
        with tf.GradientTape() as tape:
          x, log_q = model.experimental_sample_and_log_prob(
              _BATCH_SIZE.value, seed=(1, 2))
          loss = tf.reduce_mean(log_q - target.log_prob(x))
        return loss, tape.gradient(loss, variables), tf.reduce_mean(log_q)
      compiled = tf.function(step, jit_compile=jit, autograph=False)
      try:
        start = time.time()
        _, _, mean_log_q = compiled()
        first = time.time() - start
        start = time.time()
        for _ in range(_REPEATS.value):
          compiled()[0].numpy()
        seconds = (time.time() - start) / _REPEATS.value
        print('{:<8} {:<6} {:>11.1f} {:>12.3f} {:.4f}'.format(
            name, 'xla' if jit else 'graph', first, seconds,
            float(mean_log_q)))
      except Exception as e:  # pylint: disable=broad-exception-caught
        print('{:<8} {:<6} fails: {}'.format(
            name, 'xla' if jit else 'graph', str(e).splitlines()[0][:100]))


if __name__ == '__main__':
  flag_checks.run(main)
