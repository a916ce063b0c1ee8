"""GlobalLocal and the dual spin kernel keep pi invariant; their contracts."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg

tfd = tfp.distributions
T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE


def walk(kernel, init, num_steps, seed):
  """The state after `num_steps` steps (XLA), and the global acceptance."""
  def chain():
    return tfp.mcmc.sample_chain(
        num_steps, current_state=init, kernel=kernel,
        trace_fn=lambda _, r: getattr(r, 'is_accepted', tf.constant(True)),
        seed=seed)
  states, accepted = tf.function(chain, jit_compile=True,
                                 autograph=False)()
  return states[-1], float(tf.reduce_mean(tf.cast(accepted, tf.float32)))


def enumerated(size, temperature):
  """Exact `<E>/N`, `<|m|>` and the spin-energy distribution on the torus."""
  spins, energies, log_z = helpers.ising_enumeration(size, size, temperature)
  p = np.exp(-energies / temperature - log_z)
  levels = np.unique(energies)
  return dict(energy=np.sum(p * energies) / size**2,
              abs_m=np.sum(p * np.abs(spins.mean(axis=(1, 2)))),
              levels=levels,
              level_p=np.array([p[energies == e].sum() for e in levels]))


def check_against_enumeration(target, x, seed):
  """Moments within 4 standard errors and a chi-square test of the energies.

  `x[chains, 4, 4]` are independent draws (chains started from exact draws).
  """
  exact = enumerated(4, T_C)
  n = x.shape[0]
  energy = (target.energy_estimator(x) / 16.).numpy()
  assert abs(energy.mean() - exact['energy']) < 4. * energy.std() / n**0.5
  spins = target.sample_spins(x, seed)
  abs_m = tf.abs(tf.reduce_mean(spins, axis=[1, 2])).numpy()
  assert abs(abs_m.mean() - exact['abs_m']) < 4. * abs_m.std() / n**0.5
  spin_energy = target.ising_energy(spins).numpy()
  counts = np.array([np.sum(np.isclose(spin_energy, e))
                     for e in exact['levels']])
  expected = n * exact['level_p']
  keep = expected > 5.  # The chi-square approximation needs counts.
  statistic = np.sum((counts[keep] - expected[keep])**2 / expected[keep])
  dof = keep.sum() - 1
  # About a 1e-4 false-alarm rate for dof ~ 8.
  assert statistic < dof + 6. * (2. * dof)**0.5, (statistic, dof)
  return energy.mean()


@pytest.fixture(scope='module')
def exact_draws():
  """4096 exact draws of the 4x4 dual at T_c (enumerated spins, x | s)."""
  target, x = helpers.exact_dual_draws(4, T_C, num_steps=1, num_chains=4096,
                                       seed=3)
  return target, tf.constant(x[0])


def test_dual_spin_kernel_keeps_pi_invariant(exact_draws):
  target, x = exact_draws
  kernel = target.local_kernel(num_sweeps=2)
  x_after, _ = walk(kernel, x, num_steps=10, seed=(1, 2))
  assert np.mean(np.abs(x_after - x)) > 0.5  # The chains moved.
  check_against_enumeration(target, x_after, seed=(3, 4))


def gaussian_fit(x):
  """A poor proposal: the Gaussian with the draws' covariance (pi is not).

  As an independence proposal for the 4x4 dual at T_c it is accepted 18% of
  the time (measured), so a wrong acceptance rule would show.
  """
  flat = tf.reshape(x, [x.shape[0], -1])
  scale = tf.linalg.cholesky(tfp.stats.covariance(flat))
  return tfd.TransformedDistribution(
      tfd.MultivariateNormalTriL(tf.zeros_like(flat[0]), scale),
      tfp.bijectors.Reshape(x.shape[1:], [flat.shape[1]]))


@pytest.mark.parametrize('num_local_steps', [0, 1])
def test_global_local_keeps_pi_invariant_with_a_poor_proposal(
    exact_draws, num_local_steps):
  """`num_local_steps=0` is independence Metropolis alone."""
  target, x = exact_draws
  kernel = tfp_nrg.mcmc.GlobalLocal(target.log_prob, gaussian_fit(x),
                                    target.local_kernel(),
                                    num_local_steps=num_local_steps)
  x_after, acceptance = walk(kernel, x, num_steps=10, seed=(5, 6))
  assert 0.05 < acceptance < 0.95  # Both outcomes of the global move occur.
  check_against_enumeration(target, x_after, seed=(7, 8))


def bimodal_log_prob(x):
  """Equal mixture of N(-2, 1) and N(2, 1) in each of 2 coordinates."""
  return tf.reduce_sum(tf.math.reduce_logsumexp(
      tf.stack([-0.5 * (x - 2.)**2, -0.5 * (x + 2.)**2]), axis=0), axis=-1)


def test_local_kernel_repairs_a_proposal_that_misses_a_mode():
  """q covers only the +2 mode; with random-walk steps beside it the moments
  are right, without them the chains stay where q put them."""
  proposal = tfd.Sample(tfd.Normal(tf.constant(2., tf.float64), 1.), [2])
  init = proposal.sample(2000, seed=(1, 2))
  local = tfp.mcmc.RandomWalkMetropolis(
      bimodal_log_prob, new_state_fn=tfp.mcmc.random_walk_normal_fn(2.5))

  def mean_and_stderr(num_local_steps):
    kernel = tfp_nrg.mcmc.GlobalLocal(bimodal_log_prob, proposal, local,
                                      num_local_steps=num_local_steps)
    x, _ = walk(kernel, init, num_steps=60, seed=(3, 4))
    first = x[:, 0].numpy()
    return first.mean(), (first**2).mean(), first.std() / len(first)**0.5

  mean, second_moment, stderr = mean_and_stderr(2)
  assert abs(mean) < 4. * stderr
  assert second_moment == pytest.approx(5., abs=0.5)  # 2^2 + 1.
  mean, _, stderr = mean_and_stderr(0)
  assert mean > 1.5  # Independence proposals alone never find -2.


def test_cached_target_values_follow_a_global_move():
  target = tfd.Sample(tfd.Normal(tf.constant(0.5, tf.float64), 1.), [3])
  hmc = tfp.mcmc.SimpleStepSizeAdaptation(
      tfp.mcmc.HamiltonianMonteCarlo(target.log_prob, step_size=0.3,
                                     num_leapfrog_steps=3),
      num_adaptation_steps=10)
  kernel = tfp_nrg.mcmc.GlobalLocal(target.log_prob, proposal=target,
                                    local_kernel=hmc)
  state = target.sample(64, seed=(1, 2))
  results = kernel.bootstrap_results(state)
  step_sizes = []
  for i in range(4):
    state, results = kernel.one_step(state, results, seed=(3, i))
    inner = results.inner_results.inner_results.accepted_results
    np.testing.assert_allclose(inner.target_log_prob, target.log_prob(state),
                               rtol=1e-12)
    with tf.GradientTape() as tape:
      tape.watch(state)
      log_prob = target.log_prob(state)
    np.testing.assert_allclose(inner.grads_target_log_prob[0],
                               tape.gradient(log_prob, state), rtol=1e-12)
    np.testing.assert_allclose(results.target_log_prob, log_prob, rtol=1e-12)
    np.testing.assert_allclose(results.proposal_log_prob, log_prob,
                               rtol=1e-12)
    step_sizes.append(float(results.inner_results.new_step_size))
    assert results.is_accepted.numpy().all()  # q = pi: always accepted.
  assert len(set(step_sizes)) > 1  # Adaptation state was kept, not reset.


def test_reproducible_under_xla_and_works_with_reducers():
  target = tfp_nrg.DualIsing(4, T_C)
  flow = tfp_nrg.neural_rg(4, num_couplings=2, hidden_units=(4,))
  kernel = tfp_nrg.mcmc.GlobalLocal(target.log_prob, flow,
                                    target.local_kernel(), num_local_steps=2)
  init = flow.sample(8, seed=(1, 2))

  @tf.function(jit_compile=True, autograph=False)
  def chain(seed):
    return tfp.experimental.mcmc.sample_fold(
        num_steps=20, current_state=init, kernel=kernel,
        reducer=tfp.experimental.mcmc.ExpectationsReducer(), seed=seed)

  first, second = chain(tf.constant([3, 4])), chain(tf.constant([3, 4]))
  np.testing.assert_array_equal(first[0], second[0])  # The streamed means.
  assert first[0].shape == [8, 4, 4]
  assert not np.array_equal(first[0], chain(tf.constant([3, 5]))[0])
  # The cached ln pi is that of the final state (XLA rounds differently).
  np.testing.assert_allclose(first[2].target_log_prob,
                             target.log_prob(first[1]), rtol=1e-5)


@pytest.mark.parametrize('build,error,match', [
    (lambda t, q: tfp_nrg.mcmc.GlobalLocal(t.log_prob, q, 'hmc'), TypeError,
     'local_kernel'),
    (lambda t, q: tfp_nrg.mcmc.GlobalLocal(t.log_prob, q, t.local_kernel(),
                                           num_local_steps=-1), ValueError,
     'num_local_steps'),
    (lambda t, q: tfp_nrg.mcmc.GlobalLocal(t.log_prob, 'flow',
                                           t.local_kernel()), TypeError,
     'proposal'),
    (lambda t, q: tfp_nrg.mcmc.GlobalLocal(
        t.log_prob, tfd.Normal(tf.zeros([3, 4, 4]), 1.), t.local_kernel()),
     ValueError, 'batch shape'),
    (lambda t, q: tfp_nrg.mcmc.GlobalLocal(t.log_prob, q, t.local_kernel())
     .bootstrap_results(tf.zeros([2, 8, 8])), ValueError, 'current_state'),
    (lambda t, q: tfp_nrg.DualIsing(5, 2.).local_kernel(),
     NotImplementedError, 'HamiltonianMonteCarlo'),
    (lambda t, q: tfp_nrg.DualIsing(5, 2.).local_kernel(),
     NotImplementedError, 'even side'),
    (lambda t, q: t.local_kernel(num_sweeps=0), ValueError, 'num_sweeps'),
])
def test_rejects_bad_arguments(build, error, match):
  target = tfp_nrg.DualIsing(4, T_C)
  proposal = tfd.Sample(tfd.Normal(0., 1.), [4, 4])
  with pytest.raises(error, match=match):
    build(target, proposal)


def test_kernels_run_inside_replica_exchange():
  """`tfp.mcmc.ReplicaExchangeMC` passes one-part states as lists: both flow
  kernels take them, return them as lists, and refuse several parts."""
  target = tfp_nrg.DualIsing(4, 3.0)
  model = tfp_nrg.neural_rg(4)
  for make_kernel in (
      lambda fn: tfp_nrg.mcmc.GlobalLocal(
          fn, model, tfp.mcmc.HamiltonianMonteCarlo(fn, 0.1, 2)),
      lambda fn: tfp_nrg.mcmc.IndependenceMetropolis(fn, model)):
    kernel = tfp.mcmc.ReplicaExchangeMC(
        target.log_prob, inverse_temperatures=tf.constant([1., 0.8, 0.6]),
        make_kernel_fn=make_kernel)
    states, swaps = tfp.mcmc.sample_chain(
        5, tf.zeros([5, 4, 4]), kernel=kernel, seed=(1, 2),
        trace_fn=lambda _, r: r.is_swap_accepted_adjacent)
    assert states.shape == [5, 5, 4, 4] and swaps.shape == [5, 2, 5]
    inner = make_kernel(target.log_prob)
    state = [model.sample(3, seed=(3, 4))]
    next_state, _ = inner.one_step(state, inner.bootstrap_results(state),
                                   seed=(5, 6))
    assert isinstance(next_state, list) and next_state[0].shape == [3, 4, 4]
    with pytest.raises(ValueError, match='one state part'):
      inner.bootstrap_results(state * 2)


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))


def test_step_size_adaptation_wraps_a_global_local_from_outside():
  """TFP's adaptation finds the local HMC's step size and acceptance through
  `inner_results`, as it does through TFP's own wrappers: it adapts the HMC
  inside a `GlobalLocal` as it adapts the same HMC alone."""
  target = tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.), [4])
  proposal = tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 3.), [4])
  runs = []
  for wrap in (True, False):
    hmc = tfp.mcmc.HamiltonianMonteCarlo(target.log_prob, step_size=2.5,
                                         num_leapfrog_steps=3,
                                         store_parameters_in_results=True)
    inner = (tfp_nrg.mcmc.GlobalLocal(target.log_prob, proposal, hmc)
             if wrap else hmc)
    kernel = tfp.mcmc.SimpleStepSizeAdaptation(
        inner, num_adaptation_steps=400, target_accept_prob=0.75)
    hmc_results = ((lambda r: r.inner_results.inner_results) if wrap else
                   (lambda r: r.inner_results))
    _, (step_sizes, accepted) = tf.function(lambda: tfp.mcmc.sample_chain(
        600, current_state=tf.zeros([64, 4], tf.float64), kernel=kernel,
        trace_fn=lambda _, r: (r.new_step_size, hmc_results(r).is_accepted),
        seed=(1, 2)))()
    runs.append((step_sizes.numpy(), float(np.mean(accepted[400:]))))
  (wrapped, wrapped_acceptance), (alone, alone_acceptance) = runs
  assert wrapped[-1] < 2.   # Adapted down from 2.5.
  np.testing.assert_allclose(wrapped, alone, rtol=0.05)
  assert abs(wrapped_acceptance - alone_acceptance) < 0.05
