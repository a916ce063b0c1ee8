"""Ising observables from dual chains against exact enumeration on 4x4."""

import math

import numpy as np
import pytest
import tensorflow as tf

import helpers
import tfp_nrg

T_C = tfp_nrg.exact.CRITICAL_TEMPERATURE


def enumerated_moments(size, temperature):
  spins, energies, log_z = helpers.ising_enumeration(size, size, temperature)
  p = np.exp(-energies / temperature - log_z)
  m = spins.mean(axis=(1, 2))
  n = size * size
  mean_energy = np.sum(p * energies)
  return dict(
      energy_per_site=mean_energy / n,
      abs_magnetization=np.sum(p * np.abs(m)),
      magnetization_squared=np.sum(p * m**2),
      specific_heat_per_site=np.sum(p * (energies - mean_energy)**2) /
      (n * temperature**2),
      binder_cumulant=1. - np.sum(p * m**4) / (3. * np.sum(p * m**2)**2))


def test_ising_report_in_ising_language():
  target = tfp_nrg.DualIsing(8, T_C)
  estimate = tfp_nrg.evaluation.Estimate
  results = tfp_nrg.evaluation.EvaluationResults(
      free_energy_bound=estimate(-148.0, 0.01), log_z=estimate(148.6, 0.02),
      log_z_importance=estimate(148.5, 3.), log_z_importance_delta_stderr=0.1,
      ess_fraction=estimate(0.2, 0.01), acceptance_rate=estimate(0.5, 0.02),
      chi_square_divergence=7.,
      log_z_upper_bound=150., observables={
          'energy_per_site': tfp_nrg.evaluation.ObservableEstimate(
              -1.5, 0.01, unweighted=-1.6,
              target_draws=estimate(-1.49, 0.005))},
      num_non_finite_log_weights=0, pareto_shape=0.4, log_z_warning=None)
  report = tfp_nrg.observables.ising_report(target, results)
  log_z_dual = target.exact_log_normalizer()
  assert report.exact_dual_free_energy == -log_z_dual
  assert report.relative_error == pytest.approx((log_z_dual - 148.0) /
                                                log_z_dual)
  assert report.gap_per_site == pytest.approx((log_z_dual - 148.0) / 64)
  assert report.log_z_ising_estimate.value == pytest.approx(
      148.6 + target.log_z_offset)
  assert report.exact_log_z_ising == pytest.approx(
      tfp_nrg.exact.ising_log_z(8, T_C))
  assert report.ising_free_energy_per_site == pytest.approx(
      (-T_C * (148.6 + target.log_z_offset) / 64, T_C * 0.02 / 64))
  assert report.kl_target_to_model == pytest.approx(150. - 148.6)
  flat = tfp_nrg.evaluation.flatten(report)
  assert flat['log_z_dual_estimate_stderr'] == 0.02
  assert flat['log_z_dual_importance_estimate_delta_stderr'] == 0.1
  assert flat['energy_per_site_target_draws_stderr'] == 0.005
  assert flat['energy_per_site_unweighted'] == -1.6
  assert flat['exact_energy_per_site'] == pytest.approx(
      tfp_nrg.exact.ising_energy_per_site(8, T_C))
  assert tfp_nrg.evaluation.non_finite(report) == []
  # A poor flow: no error for ln Z. Reported, not raised.
  poor = tfp_nrg.observables.ising_report(target, results._replace(
      log_z=estimate(148.6, float('inf'))))
  assert tfp_nrg.evaluation.non_finite(poor) == [
      'ising_free_energy_per_site_stderr', 'log_z_dual_estimate_stderr',
      'log_z_ising_estimate_stderr']


def test_chain_summary_matches_enumeration():
  target, x = helpers.exact_dual_draws(4, T_C, num_steps=400, num_chains=32, seed=1)
  summary = tfp_nrg.observables.ising_chain_summary(target, tf.constant(x),
                                                    seed=(2, 3))
  expected = enumerated_moments(4, T_C)
  for name, value in expected.items():
    assert abs(summary[name] - value) < 4. * summary[name + '_stderr'], name
    assert summary[name + '_stderr'] > 0.
  assert summary['exact_energy_per_site'] == pytest.approx(
      expected['energy_per_site'], rel=1e-12)
  assert summary['exact_specific_heat_per_site'] == pytest.approx(
      expected['specific_heat_per_site'], rel=1e-10)
  # Independent draws: integrated autocorrelation time about 1.
  assert 0.7 < summary['energy_autocorrelation_time'] < 1.4
  assert 0.7 < summary['abs_magnetization_autocorrelation_time'] < 1.4
  assert abs(summary['energy_z_score']) < 4.
  assert abs(summary['specific_heat_z_score']) < 4.


def test_chain_summary_flags_chains_that_miss_part_of_pi():
  # Chains that never visit the disordered half of pi (as those of a flow
  # that under-covers it): their energy is many of their errors too low.
  target, x = helpers.exact_dual_draws(4, T_C, num_steps=400, num_chains=32,
                                       seed=1)
  draws = x.reshape((-1,) + x.shape[2:])
  energy = target.energy_estimator(tf.constant(draws)).numpy()
  lowest_half = np.sort(np.argsort(energy)[:len(draws) // 2])
  kept = draws[lowest_half].reshape((200, 32) + x.shape[2:])
  summary = tfp_nrg.observables.ising_chain_summary(target, tf.constant(kept),
                                                    seed=(2, 3))
  assert summary['energy_z_score'] < -10.
  # Chains stuck on one ordered state: no spread (up to rounding), and a
  # deviation of (nearly) infinitely many errors.
  stuck = np.broadcast_to(draws[np.argmin(energy)], (50, 4) + x.shape[2:])
  summary = tfp_nrg.observables.ising_chain_summary(target, tf.constant(stuck),
                                                    seed=(2, 3))
  assert summary['energy_per_site_stderr'] < 1e-12
  assert summary['energy_z_score'] < -1e6


def test_chain_mean_sees_autocorrelation():
  # AR(1) with rho = 0.8: tau_int = (1 + rho) / (1 - rho) = 9.
  rng = np.random.default_rng(4)
  rho, steps, chains = 0.8, 20000, 8
  series = np.zeros([steps, chains])
  noise = rng.standard_normal([steps, chains]) * math.sqrt(1. - rho**2)
  for t in range(1, steps):
    series[t] = rho * series[t - 1] + noise[t]
  mean, stderr, tau = tfp_nrg.mcmc.chain_mean(tf.constant(series))
  assert 7. < float(tau) < 11.
  assert abs(float(mean)) < 4. * float(stderr)
  assert float(stderr) > 2.5 / math.sqrt(series.size)


def test_jackknife_of_a_variance():
  x = tf.random.stateless_normal([4000, 4], seed=(5, 6), dtype=tf.float64)
  estimate, stderr = tfp_nrg.mcmc.jackknife(
      lambda v: tf.math.reduce_variance(v['x']), {'x': 2. * x})
  assert abs(float(estimate) - 4.) < 4. * float(stderr)
  # Var of a sample variance of n normals: 2 sigma^4 / n = 2 * 16 / 16000.
  assert 0.5 < float(stderr) / math.sqrt(2. * 16. / 16000.) < 2.


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
