"""Kaufman's exact solution against enumeration, Onsager and the reference."""

import math

import numpy as np
import pytest

import helpers
import tfp_nrg
from tfp_nrg import exact

T_C = exact.CRITICAL_TEMPERATURE

# (L, T, ln Z, E/N, C/N, dual offset, ln Z_dual), from
# shared/reference/ising_exact.json (Kaufman's formula checked there against
# enumeration and 40-digit arithmetic). Its specific heats came from finite
# differences and carry ~1e-7 relative error.
REFERENCE = [
    (4, 2.269185314213022, 15.52191545875528, -1.565623787638319,
     0.783266825731651, 1.862747174039086, 37.37673168994401),
    (8, 2.269185314213022, 60.14178078906916, -1.4915891074397065,
     1.1455592390900073, 1.862747174039086, 148.6550162809909),
    (16, 2.269185314213022, 238.64225663513287, -1.4530648528134769,
     1.4987049562922887, 1.862747174039086, 592.8757398575825),
    (16, 2.5, 225.2288467558758, -1.1313179844107273, 1.0649768839243734,
     1.7000000000000002, 547.357223512957),
    (32, 1.5, 1371.7903617635538, -1.9511165730784044, 0.1972745355368251,
     2.7666666666666666, 3447.6646900071255),
    (64, 3.0, 3341.8556696892274, -0.817309592503002, 0.4013795798433565,
     1.4333333333333333, 7614.15547402546),
    (128, 2.0, 16807.28259037409, -1.74556457531423, 0.7248714211927075, 2.1,
     42370.210145939505),
    (128, 2.269185314213022, 15232.769323338784, -1.4190762720849959,
     2.53633114218925, 1.862747174039086, 37903.79352292583),
]


def test_critical_temperature():
  assert exact.CRITICAL_TEMPERATURE == pytest.approx(2.269185314213022,
                                                     rel=1e-15)
  coupling = 1. / exact.CRITICAL_TEMPERATURE
  assert math.sinh(2. * coupling) == pytest.approx(1., rel=1e-14)


@pytest.mark.parametrize('shape', [(3, 3), (4, 4), (2, 3), (3, 4), (4, 3)])
@pytest.mark.parametrize('temperature', [1.5, T_C, 3.0])
def test_matches_enumeration(shape, temperature):
  _, energies, log_z = helpers.ising_enumeration(*shape, temperature)
  num_sites = shape[0] * shape[1]
  weights = np.exp(-energies / temperature - log_z)
  mean = np.sum(weights * energies)
  variance = np.sum(weights * (energies - mean)**2)
  size = shape if shape[0] != shape[1] else shape[0]
  np.testing.assert_allclose(exact.ising_log_z(size, temperature), log_z,
                             rtol=1e-12)
  np.testing.assert_allclose(
      exact.ising_energy_per_site(size, temperature), mean / num_sites,
      rtol=1e-12)
  np.testing.assert_allclose(
      exact.ising_specific_heat_per_site(size, temperature),
      variance / temperature**2 / num_sites, rtol=1e-11)


@pytest.mark.parametrize('row', REFERENCE, ids=lambda r: 'L{}_T{:.3f}'.format(
    r[0], r[1]))
def test_matches_reference(row):
  size, temperature, log_z, energy, specific_heat = row[:5]
  np.testing.assert_allclose(exact.ising_log_z(size, temperature), log_z,
                             rtol=1e-12)
  # The reference energy at L = 128, T = 2 is itself ~1e-12 off (see below).
  np.testing.assert_allclose(exact.ising_energy_per_site(size, temperature),
                             energy, rtol=2e-12)
  np.testing.assert_allclose(
      exact.ising_specific_heat_per_site(size, temperature), specific_heat,
      rtol=1e-6)


def test_energy_matches_high_precision_value():
  # -(1/N) d ln Z / dK from Kaufman's formula in 40-digit arithmetic (mpmath,
  # numerical differentiation), L = 128, T = 2.
  np.testing.assert_allclose(exact.ising_energy_per_site(128, 2.),
                             -1.7455645753125539646, rtol=5e-13)


@pytest.mark.parametrize('size', [8, 64])
@pytest.mark.parametrize('temperature', [1.8, T_C, 2.6])
def test_derivatives_match_finite_differences(size, temperature):
  # Five-point stencils in K = 1/T: truncation O(h^4), round-off ~1e-9.
  h = 1e-4
  coupling = 1. / temperature
  log_z = [exact.ising_log_z(size, 1. / (coupling + j * h))
           for j in (-2, -1, 0, 1, 2)]
  first = (log_z[0] - 8. * log_z[1] + 8. * log_z[3] - log_z[4]) / (12. * h)
  second = (-log_z[0] + 16. * log_z[1] - 30. * log_z[2] + 16. * log_z[3] -
            log_z[4]) / (12. * h**2)
  num_sites = size * size
  np.testing.assert_allclose(exact.ising_energy_per_site(size, temperature),
                             -first / num_sites, rtol=1e-9)
  np.testing.assert_allclose(
      exact.ising_specific_heat_per_site(size, temperature),
      coupling**2 * second / num_sites, rtol=1e-7)


@pytest.mark.parametrize('temperature', [1.5, 2.0, 2.6, 3.0])
def test_large_lattice_approaches_onsager(temperature):
  size = 512
  log_z = exact.ising_log_z(size, temperature)
  # Below T_c the torus holds both magnetized phases: Z -> 2 exp(N f).
  if temperature < T_C:
    log_z -= math.log(2.)
  np.testing.assert_allclose(log_z / size**2,
                             exact.onsager_log_z_per_site(temperature),
                             rtol=1e-12)
  np.testing.assert_allclose(exact.ising_energy_per_site(size, temperature),
                             exact.onsager_energy_per_site(temperature),
                             rtol=1e-10)


def test_onsager_at_criticality():
  assert exact.onsager_energy_per_site(T_C) == pytest.approx(-math.sqrt(2.),
                                                            rel=1e-14)
  # Finite-size scaling at T_c: the free energy converges as 1/N.
  gaps = [abs(exact.ising_log_z(size, T_C) / size**2 -
              exact.onsager_log_z_per_site(T_C)) for size in (64, 128, 256)]
  assert gaps[0] > gaps[1] > gaps[2]
  assert gaps[2] < 1e-5


def test_sign_of_gamma0_above_critical_temperature():
  # Dropping the sign of gamma_0 would overshoot ln Z by ~0.12 at L=16, T=2.3
  # (shared reference notes); enumeration settles it on 4x4 at T = 2.3.
  _, _, log_z = helpers.ising_enumeration(4, 4, 2.3)
  assert exact.ising_log_z(4, 2.3) == pytest.approx(log_z, rel=1e-13)


@pytest.mark.parametrize('fn', [exact.ising_log_z, exact.ising_energy_per_site,
                                exact.ising_specific_heat_per_site])
def test_stable_at_large_lattice(fn):
  for temperature in (0.5, T_C, 10.):
    assert math.isfinite(fn(512, temperature))


@pytest.mark.parametrize('temperature,error', [
    (0., ValueError), (-1., ValueError), (float('nan'), ValueError),
    (float('inf'), ValueError), ('hot', TypeError), (True, TypeError)])
def test_rejects_bad_temperature(temperature, error):
  with pytest.raises(error, match='temperature'):
    exact.ising_log_z(8, temperature)
  with pytest.raises(error, match='temperature'):
    exact.onsager_log_z_per_site(temperature)


@pytest.mark.parametrize('size,error', [
    (1, ValueError), ((4, 1), ValueError), (4.0, TypeError), ((4, 4, 4),
                                                              TypeError)])
def test_rejects_bad_lattice_size(size, error):
  with pytest.raises(error, match='lattice_size'):
    exact.ising_energy_per_site(size, 2.)


def test_low_temperatures_are_the_two_ground_states():
  """Below T = 0.05 Kaufman's sinh(2K) overflows further on; ln Z is then
  2NK + ln 2 to double precision, and it joins the formula continuously."""
  for size in (4, 8, 16):
    n = size * size
    for temperature in (0.05 * 1.001, 0.04, 1e-3, 1e-6):
      assert exact.ising_log_z(size, temperature) == pytest.approx(
          2. * n / temperature + math.log(2.), rel=1e-12)
      assert exact.ising_energy_per_site(size, temperature) == pytest.approx(
          -2., rel=1e-10)
  # The dual's exact normalizer used to raise OverflowError here.
  target = tfp_nrg.DualIsing(8, 1e-3)
  assert math.isfinite(target.exact_log_normalizer())


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
