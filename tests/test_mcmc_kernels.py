"""IndependenceMetropolis: exactness, known answers, TFP integration."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg

tfd = tfp.distributions
tfb = tfp.bijectors


def is_accepted(_, results):
  """`is_accepted` of IndependenceMetropolis, also inside a wrapper kernel."""
  while not hasattr(results, 'is_accepted'):
    results = results.inner_results
  return results.is_accepted


def run_chain(kernel, init, num_results, seed, jit_compile=True):
  @tf.function(jit_compile=jit_compile, autograph=False)
  def chain(seed):
    return tfp.mcmc.sample_chain(num_results, current_state=init,
                                 kernel=kernel, trace_fn=is_accepted,
                                 seed=seed)
  return chain(tf.constant(seed))


def chain_mean_and_stderr(samples):
  """Mean over steps and chains, with an ESS-based standard error."""
  ess = tf.reduce_sum(tfp.mcmc.effective_sample_size(samples))
  return (float(tf.reduce_mean(samples)),
          float(tf.math.reduce_std(samples) / tf.sqrt(ess)))


def test_exact_proposal_always_accepts():
  target = tfd.Normal(1., 2.)
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob,
                                               proposal=tfd.Normal(1., 2.))
  _, accepted = run_chain(kernel, tf.zeros([8]), 50, [1, 2])
  assert np.all(accepted.numpy())


@pytest.mark.parametrize('proposal_scale', [2.5, 0.7])
def test_imperfect_proposal_gives_exact_moments(proposal_scale):
  # Target N(1, 0.8^2); proposals too wide or too narrow (still covering).
  target = tfd.Normal(1., 0.8)
  proposal = tfd.Normal(0.5, proposal_scale)
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob, proposal)
  samples, accepted = run_chain(kernel, tf.zeros([64]), 2000, [3, 4])
  samples = samples[200:]
  assert 0.1 < np.mean(accepted.numpy()) < 1.
  mean, mean_stderr = chain_mean_and_stderr(samples)
  assert abs(mean - 1.) < 4. * mean_stderr
  square, square_stderr = chain_mean_and_stderr((samples - 1.)**2)
  assert abs(square - 0.64) < 4. * square_stderr


def test_histogram_matches_double_well_density():
  """Chi-square of a long chain's histogram against the exact density.

  Target exp(-(x^2 - 1)^2 * 2), proposal N(0, 1.2^2); 40 bins on [-2.2, 2.2];
  the chain is thinned to roughly independent draws (every 10th step), and the
  test fails at significance 1e-4 (chi-square with 39 degrees of freedom
  above 85.4).
  """
  def log_density(x):
    return -2. * (x**2 - 1.)**2
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(log_density,
                                               tfd.Normal(0., 1.2))
  samples, _ = run_chain(kernel, tf.zeros([100]), 4000, [5, 6])
  draws = samples.numpy()[::10].ravel()
  edges = np.linspace(-2.2, 2.2, 41)
  grid = np.linspace(-2.2, 2.2, 40001)
  density = np.exp(log_density(grid))
  cumulative = np.concatenate([[0.], np.cumsum(
      (density[1:] + density[:-1]) / 2. * np.diff(grid))])
  # Conditional on [-2.2, 2.2]; the mass outside is ~1e-13.
  probabilities = np.diff(np.interp(edges, grid, cumulative)) / cumulative[-1]
  expected = probabilities * np.sum((draws > -2.2) & (draws < 2.2))
  observed, _ = np.histogram(draws, edges)
  chi_square = np.sum((observed - expected)**2 / expected)
  assert chi_square < 85.4


@pytest.mark.slow
def test_unbiased_with_an_undertrained_flow():
  """Energy per site of the 4x4 Ising model at T_c from a half-trained flow.

  After 300 steps the flow's raw samples miss Kaufman's energy by ~20
  standard errors (measured: -1.6217 +- 0.0029 against -1.5656), while 128
  independence Metropolis chains of 1000 steps (acceptance 0.38) recover it
  (measured: -1.5737 +- 0.0042, 1.9 errors).
  """
  size, temperature = 4, tfp_nrg.exact.CRITICAL_TEMPERATURE
  target = tfp_nrg.DualIsing(size, temperature)
  flow = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(
      size, num_couplings=3, hidden_units=(16,), repeat=1, seed=1))
  trainer = tfp_nrg.training.Trainer(flow, target.log_prob, batch_size=128,
                                     learning_rate=3e-3, seed=1)
  trainer.fit(300, log_every=0)
  exact_energy = tfp_nrg.exact.ising_energy_per_site(size, temperature)
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob, flow)
  init = flow.sample(128, seed=(7, 8))
  samples, accepted = run_chain(kernel, init, 1000, [9, 10])
  energies = target.energy_estimator(samples[200:]) / target.num_sites
  mean, stderr, _ = tfp_nrg.mcmc.chain_mean(energies)
  assert abs(float(mean) - exact_energy) < 4. * float(stderr)
  assert 0.2 < np.mean(accepted.numpy()) < 0.9

  raw = target.energy_estimator(flow.sample(20000, seed=(11, 12))).numpy()
  raw = raw / target.num_sites
  raw_stderr = raw.std() / math.sqrt(raw.size)
  assert abs(raw.mean() - exact_energy) > 10. * max(raw_stderr,
                                                    float(stderr))


def test_reproducible_from_seed_and_caches_log_probs():
  target = tfd.Normal(0., 1.)
  proposal = tfd.Normal(0.3, 1.5)
  calls = []

  def counted_log_prob(x):
    calls.append(1)
    return target.log_prob(x)

  kernel = tfp_nrg.mcmc.IndependenceMetropolis(counted_log_prob, proposal)
  first, _ = run_chain(kernel, tf.zeros([4]), 30, [1, 1], jit_compile=False)
  second, _ = run_chain(kernel, tf.zeros([4]), 30, [1, 1], jit_compile=False)
  np.testing.assert_array_equal(first, second)
  # Traced twice (two tf.functions): bootstrap + one per step body, each.
  assert len(calls) == 4
  results = kernel.bootstrap_results(tf.zeros([4]))
  np.testing.assert_allclose(results.accepted_results.proposal_log_prob,
                             proposal.log_prob(tf.zeros([4])))


def test_inside_transformed_transition_kernel():
  # A log-normal target on x > 0, sampled in z = ln x with a Normal proposal.
  target = tfd.LogNormal(0.2, 0.5)
  kernel = tfp.mcmc.TransformedTransitionKernel(
      tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob,
                                          tfd.Normal(0.2, 0.7)),
      bijector=tfb.Exp())
  samples, _ = run_chain(kernel, tf.ones([64]), 1500, [13, 14])
  logs = tf.math.log(samples[100:])
  mean, stderr = chain_mean_and_stderr(logs)
  assert abs(mean - 0.2) < 4. * stderr


def test_works_with_reducers():
  # tfp.experimental.mcmc.sample_fold streams the mean without storing states.
  target = tfd.Normal(2., 0.5)
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(target.log_prob,
                                               tfd.Normal(1.5, 1.))
  mean, _, _ = tf.function(
      lambda: tfp.experimental.mcmc.sample_fold(
          num_steps=3000, current_state=tf.fill([32], 2.), kernel=kernel,
          reducer=tfp.experimental.mcmc.ExpectationsReducer(), seed=(7, 7)),
      jit_compile=True, autograph=False)()
  # 96000 draws with acceptance ~0.6: the error of the mean is ~0.003.
  np.testing.assert_allclose(np.mean(mean.numpy()), 2., atol=0.02)


def test_latent_hmc_through_an_affine_flow():
  # Target N(mu, diag(sigma^2)) in x; flow x = mu + sigma * z: in z the
  # target is a standard normal. The chain's moments in x must match.
  mu = tf.constant([1., -2., 0.5])
  sigma = tf.constant([0.5, 2., 1.])
  target = tfd.MultivariateNormalDiag(mu, sigma)
  flow = tfb.Chain([tfb.Shift(mu), tfb.Scale(sigma)])
  latent = tf.random.stateless_normal([32, 3], seed=(1, 2))
  states, accepted = tf.function(
      lambda: tfp_nrg.mcmc.sample_latent_hmc(
          target.log_prob, flow, latent, num_results=600,
          num_burnin_steps=200, num_leapfrog_steps=4, seed=(3, 4)),
      jit_compile=True, autograph=False)()
  assert np.mean(accepted.numpy()) > 0.5
  for i in range(3):
    mean, stderr = chain_mean_and_stderr(states[..., i])
    assert abs(mean - float(mu[i])) < 4. * stderr
    var, var_stderr = chain_mean_and_stderr((states[..., i] - mu[i])**2)
    assert abs(var - float(sigma[i])**2) < 4. * var_stderr


@pytest.mark.slow
def test_latent_hmc_through_a_continuous_flow_keeps_pi():
  """HMC in the latent space of a (random) continuous flow samples the 4x4
  dual Ising model at T = 3: the energy per site matches Kaufman's. (In
  float64 with 4 RK4 steps the flow's ln q error is far below the chains'.)
  """
  target = tfp_nrg.DualIsing(4, 3., dtype=tf.float64)
  model = tfp_nrg.distributions.continuous_flow(
      4, fourier_scale=True, num_features=2, num_steps=4, dtype=tf.float64)
  helpers.randomize_variables(model, scale=0.2, seed=5)
  latent = tf.random.stateless_normal([32, 4, 4], seed=(1, 2),
                                      dtype=tf.float64)
  states, accepted = tf.function(
      lambda: tfp_nrg.mcmc.sample_latent_hmc(
          target.log_prob, model.bijector, latent, num_results=400,
          num_burnin_steps=100, num_leapfrog_steps=4, seed=(3, 4)),
      jit_compile=True, autograph=False)()
  assert np.mean(accepted.numpy()) > 0.5
  mean, stderr, _ = tfp_nrg.mcmc.chain_mean(
      target.energy_estimator(states) / target.num_sites)
  exact = tfp_nrg.exact.ising_energy_per_site(4, 3.)
  assert abs(float(mean) - exact) < 4. * float(stderr)
  assert float(stderr) < 0.05 * abs(exact)


def test_rejects_bad_arguments():
  with pytest.raises(TypeError, match='proposal'):
    tfp_nrg.mcmc.IndependenceMetropolis(tfd.Normal(0., 1.).log_prob, 'q')
  with pytest.raises(TypeError, match='target_log_prob_fn'):
    tfp_nrg.mcmc.IndependenceMetropolis(None, tfd.Normal(0., 1.))
  kernel = tfp_nrg.mcmc.IndependenceMetropolis(
      lambda x: -tf.reduce_sum(x**2, axis=[-2, -1]),
      tfd.Sample(tfd.Normal(0., 1.), [4, 4]))
  with pytest.raises(ValueError, match='current_state'):
    kernel.bootstrap_results(tf.zeros([3, 4, 5]))
  with pytest.raises(TypeError, match='dtype'):
    kernel.bootstrap_results(tf.zeros([3, 4, 4], tf.float64))
  # A proposal with a batch of distributions is not one chain's proposal.
  with pytest.raises(ValueError, match='batch shape'):
    tfp_nrg.mcmc.IndependenceMetropolis(tfd.Normal(0., 1.).log_prob,
                                        tfd.Normal(tf.zeros([3]), 1.))


@pytest.mark.parametrize('build', [
    lambda t, q: tfp_nrg.mcmc.IndependenceMetropolis(t.log_prob, q),
    lambda t, q: tfp_nrg.mcmc.GlobalLocal(
        t.log_prob, q, tfp.mcmc.RandomWalkMetropolis(t.log_prob),
        num_local_steps=1),
])
def test_chains_never_step_from_a_nan_initial_state_and_say_so(build):
  """A step on a non-finite density is never taken, nor force-accepted."""
  target, proposal = tfd.Normal(1., 1.), tfd.Normal(0., 1.5)
  init = tf.constant([np.nan, 0.5, np.nan, np.inf])
  with pytest.warns(RuntimeWarning, match='non-finite'):
    _, accepted, flags = tfp_nrg.mcmc.run_chains(
        build(target, proposal), init, 30, seed=(1, 2),
        return_non_finite=True)
  assert np.all(flags.numpy()[:, [0, 2, 3]])
  assert not np.any(flags.numpy()[:, 1])
  assert not np.any(accepted & flags)
  assert np.any(accepted.numpy()[:, 1])


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
