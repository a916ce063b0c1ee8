"""Exact solution of the 2D ferromagnetic Ising model.

The model is `H(s) = -J sum_<ij> s_i s_j` with `J = 1` and no field, on an
`M x N` torus (periodic in both directions). Its finite-size partition function
is Kaufman's (Phys. Rev. 76, 1232 (1949)):

```none
Z = 1/2 (2 sinh 2K)^(MN/2) (Z_1 + Z_2 + Z_3 + Z_4),    K = J / T,
Z_1 = prod_{r=0}^{N-1} 2 cosh(M gamma_{2r+1} / 2),
Z_2 = prod_{r=0}^{N-1} 2 sinh(M gamma_{2r+1} / 2),
Z_3 = prod_{r=0}^{N-1} 2 cosh(M gamma_{2r} / 2),
Z_4 = prod_{r=0}^{N-1} 2 sinh(M gamma_{2r} / 2),
cosh gamma_l = cosh(2K) coth(2K) - cos(pi l / N)    (gamma_l > 0, l >= 1),
gamma_0 = 2K + ln tanh K.
```

`gamma_0` keeps its sign: it is negative above the critical temperature, where
`Z_4 < 0`. Taking `|gamma_0|` gives a wrong `ln Z` for every `T > T_c`.
Everything is evaluated in log space (a signed log-sum-exp over the four
products), so the formula is stable for lattices of several hundred sites per
side.

The energy and specific heat are exact first and second derivatives of the same
formula with respect to `K`, taken analytically (no finite differences).

Example:

```python
from tfp_nrg import exact
exact.ising_log_z(16, exact.CRITICAL_TEMPERATURE)            # 238.642256635133
exact.ising_energy_per_site(16, exact.CRITICAL_TEMPERATURE)  # -1.453064852813
```
"""

import math

import numpy as np

from tfp_nrg.internal import checks

__all__ = [
    'CRITICAL_TEMPERATURE',
    'MAX_DERIVATIVE_TEMPERATURE',
    'MIN_SPECIFIC_HEAT_TEMPERATURE',
    'ising_energy_per_site',
    'ising_log_z',
    'ising_specific_heat_per_site',
    'onsager_energy_per_site',
    'onsager_log_z_per_site',
]

CRITICAL_TEMPERATURE = 2. / math.log(1. + math.sqrt(2.))


def _check_shape(lattice_size):
  """Returns `(rows, cols)` from an int or a pair of ints, each >= 2."""
  shape = ((lattice_size, lattice_size)
           if np.ndim(lattice_size) == 0 else tuple(lattice_size))
  if len(shape) != 2 or not all(
      isinstance(n, (int, np.integer)) and not isinstance(n, bool)
      for n in shape):
    raise TypeError('`lattice_size` must be an int or a pair of ints (rows, '
                    'cols); got {!r}.'.format(lattice_size))
  if min(shape) < 2:
    raise ValueError('`lattice_size` must be at least 2 along each axis; got '
                     '{!r}.'.format(lattice_size))
  return int(shape[0]), int(shape[1])


# Above this K = 1/T only the two ground states count in double precision.
_GROUND_STATE_COUPLING = 20.
# Below this K the high-temperature series ln Z = N ln 2 + 2N ln cosh K is
# exact to double precision (its first loop term, at most (N + 2L) tanh^4 K,
# is below 1e-16 of N ln 2).
_FREE_SPIN_COUPLING = 1e-4
# The K-derivatives of Kaufman's formula cancel to about 1 / K^2 of their
# terms: above this temperature the energy and specific heat lose more than
# about 1e-9 of their value (measured against enumeration on the 4 x 4 torus),
# and are refused.
MAX_DERIVATIVE_TEMPERATURE = 1e3
# Below this temperature the specific heat (of order e^{-8/T}) is smaller than
# the formula's rounding, about 1e-11: its relative error passes 1e-8 (on the
# 4 x 4 torus), and it is refused.
MIN_SPECIFIC_HEAT_TEMPERATURE = 0.5


def _log_abs_2cosh(u):
  u = np.abs(u)
  return u + np.log1p(np.exp(-2. * u))


def _log_abs_2sinh(u):
  u = np.abs(u)
  with np.errstate(divide='ignore'):  # ln 0 = -inf at u = 0 is meant.
    return u + np.log(-np.expm1(-2. * u))


def _kaufman(lattice_size, temperature):
  """Returns `ln Z`, `d ln Z / dK` and `d^2 ln Z / dK^2` at `K = 1/T`."""
  rows, cols = _check_shape(lattice_size)
  coupling = 1. / checks.check_finite_number(
      temperature, 'temperature', positive=True)
  num_sites = rows * cols
  if coupling < _FREE_SPIN_COUPLING:
    return (num_sites * (math.log(2.) + 2. * math.log(math.cosh(coupling))),
            None, None, coupling, num_sites)
  if coupling > _GROUND_STATE_COUPLING:
    # Two ground states of energy -2N; every excitation costs at least 4J
    # and so weighs below N e^{-4K} < 1e-30 of them: ln Z = 2NK + ln 2 to
    # double precision, where sinh(2K) would overflow further on.
    return (2. * num_sites * coupling + math.log(2.), 2. * num_sites, 0.,
            coupling, num_sites)
  x = 2. * coupling
  sinh_x, cosh_x = math.sinh(x), math.cosh(x)

  # cosh(gamma_l) = c(K) - cos(pi l / N), with c = cosh^2(2K) / sinh(2K).
  c = cosh_x**2 / sinh_x
  dc = 2. * cosh_x * (1. - 1. / sinh_x**2)
  d2c = 4. * (sinh_x - 1. / sinh_x + 2. * cosh_x**2 / sinh_x**3)
  l = np.arange(1, 2 * cols)
  gamma = np.arccosh(c - np.cos(np.pi * l / cols))
  dgamma = dc / np.sinh(gamma)
  d2gamma = (d2c - np.cosh(gamma) * dgamma**2) / np.sinh(gamma)
  gamma0 = x + math.log(math.tanh(coupling))
  dgamma0 = 2. + 2. / sinh_x
  d2gamma0 = -4. * cosh_x / sinh_x**2
  gamma = np.concatenate([[gamma0], gamma])
  dgamma = np.concatenate([[dgamma0], dgamma])
  d2gamma = np.concatenate([[d2gamma0], d2gamma])

  # u_l = M gamma_l / 2 and its K-derivatives.
  u, du, d2u = (rows / 2. * g for g in (gamma, dgamma, d2gamma))
  odd, even = slice(1, None, 2), slice(0, None, 2)
  tanh_u = np.tanh(u)
  with np.errstate(divide='ignore'):  # coth(u_0) is never used below.
    coth_u = 1. / tanh_u

  def cosh_product(sel):
    """ln prod 2 cosh(u), and the first two derivatives of that log."""
    return (np.sum(_log_abs_2cosh(u[sel])),
            np.sum(tanh_u[sel] * du[sel]),
            np.sum((1. - tanh_u[sel]**2) * du[sel]**2 + tanh_u[sel] * d2u[sel]))

  def sinh_product(sel):
    return (np.sum(_log_abs_2sinh(u[sel])),
            np.sum(coth_u[sel] * du[sel]),
            np.sum((1. - coth_u[sel]**2) * du[sel]**2 + coth_u[sel] * d2u[sel]))

  log_z1, d1_z1, d2_z1 = cosh_product(odd)
  log_z2, d1_z2, d2_z2 = sinh_product(odd)
  log_z3, d1_z3, d2_z3 = cosh_product(even)
  # Z_4 = 2 sinh(u_0) P: its first factor vanishes at T_c, so it is kept apart
  # and differentiated by the product rule (no coth(u_0) appears).
  log_p4, d1_p4, d2_p4 = sinh_product(slice(2, None, 2))
  log_z4 = _log_abs_2sinh(u[0]) + log_p4
  sign_z4 = np.sign(u[0])

  log_terms = np.array([log_z1, log_z2, log_z3, log_z4])
  signs = np.array([1., 1., 1., sign_z4])
  shift = np.max(log_terms)
  log_sum = shift + math.log(np.sum(signs * np.exp(log_terms - shift)))
  w = signs * np.exp(log_terms - log_sum)  # Z_i / sum_j Z_j.
  v4 = math.exp(_log_abs_2cosh(u[0]) + log_p4 - log_sum)  # 2cosh(u_0) P / sum.

  # (d Z_i / dK) / sum_j Z_j and (d^2 Z_i / dK^2) / sum_j Z_j.
  first = (w[0] * d1_z1 + w[1] * d1_z2 + w[2] * d1_z3 +
           w[3] * d1_p4 + v4 * du[0])
  second = (w[0] * (d2_z1 + d1_z1**2) + w[1] * (d2_z2 + d1_z2**2) +
            w[2] * (d2_z3 + d1_z3**2) +
            w[3] * (du[0]**2 + d2_p4 + d1_p4**2) +
            v4 * (d2u[0] + 2. * du[0] * d1_p4))

  log_z = (-math.log(2.) + num_sites / 2. * math.log(2. * sinh_x) + log_sum)
  d_log_z = num_sites * cosh_x / sinh_x + first
  d2_log_z = -2. * num_sites / sinh_x**2 + second - first**2
  return log_z, d_log_z, d2_log_z, coupling, num_sites


def ising_log_z(lattice_size, temperature):
  """ln Z of the 2D Ising model (J = 1, no field) on the torus.

  Args:
    lattice_size: Python `int` L for an L x L torus, or a pair `(rows, cols)`,
      each at least 2 (on 2 sites per axis the torus has doubled bonds, and so
      does the formula).
    temperature: positive finite Python float `T` (in units of J / k_B).

  Returns:
    ln Z as a Python float.

  Raises:
    TypeError, ValueError: for a malformed `lattice_size` or `temperature`.
  """
  return _kaufman(lattice_size, temperature)[0]


def ising_energy_per_site(lattice_size, temperature):
  """Exact mean energy per site, `<H>/N = -(1/N) d ln Z / dK`, on the torus.

  Args:
    lattice_size: as in `ising_log_z`.
    temperature: as in `ising_log_z`.

  Returns:
    The energy per site as a Python float.

  Raises:
    TypeError, ValueError: for a malformed `lattice_size` or `temperature`,
      or a temperature above `MAX_DERIVATIVE_TEMPERATURE`.
  """
  _, d_log_z, _, _, num_sites = _kaufman(
      lattice_size, _check_derivative_temperature(temperature))
  return -d_log_z / num_sites


def ising_specific_heat_per_site(lattice_size, temperature):
  """Exact specific heat per site, `C/N = K^2 (d^2 ln Z / dK^2) / N`.

  Args:
    lattice_size: as in `ising_log_z`.
    temperature: as in `ising_log_z`.

  Returns:
    The specific heat per site (k_B = 1) as a Python float.

  Raises:
    TypeError, ValueError: for a malformed `lattice_size` or `temperature`,
      or a temperature above `MAX_DERIVATIVE_TEMPERATURE` or below
      `MIN_SPECIFIC_HEAT_TEMPERATURE`.
  """
  temperature = _check_derivative_temperature(temperature)
  if temperature < MIN_SPECIFIC_HEAT_TEMPERATURE:
    raise ValueError(
        '`temperature` must be at least {:g} for the exact specific heat: '
        'below it, C is smaller than the formula\'s rounding; got {:g}.'.format(
            MIN_SPECIFIC_HEAT_TEMPERATURE, temperature))
  _, _, d2_log_z, coupling, num_sites = _kaufman(lattice_size, temperature)
  return coupling**2 * d2_log_z / num_sites


def _check_derivative_temperature(temperature):
  """`temperature`, unless the derivatives of `ln Z` are imprecise there."""
  temperature = checks.check_finite_number(temperature, 'temperature',
                                           positive=True)
  if temperature > MAX_DERIVATIVE_TEMPERATURE:
    raise ValueError(
        '`temperature` must be at most {:g} for the exact energy and '
        'specific heat: above it, Kaufman\'s formula loses their precision to '
        'cancellation; got {:g}.'.format(MAX_DERIVATIVE_TEMPERATURE,
                                         temperature))
  return temperature


def _onsager_kappa(temperature):
  coupling = 1. / checks.check_finite_number(
      temperature, 'temperature', positive=True)
  return coupling, 2. * math.sinh(2. * coupling) / math.cosh(2. * coupling)**2


def onsager_log_z_per_site(temperature, num_quadrature_points=2000):
  """Onsager's `lim_{N -> inf} ln Z / N` for the 2D square-lattice Ising model.

  `ln Z / N = ln(2 cosh 2K) + 1/pi int_0^{pi/2} ln[(1 + sqrt(1 - kappa^2 sin^2
  theta)) / 2] dtheta` with `kappa = 2 sinh 2K / cosh^2 2K`, by Gauss-Legendre
  quadrature.

  Args:
    temperature: positive finite Python float.
    num_quadrature_points: Python `int`, number of Gauss-Legendre nodes.

  Returns:
    ln Z per site as a Python float.
  """
  coupling, kappa = _onsager_kappa(temperature)
  nodes, weights = np.polynomial.legendre.leggauss(num_quadrature_points)
  theta = (nodes + 1.) * np.pi / 4.
  integrand = np.log(
      (1. + np.sqrt(np.maximum(1. - (kappa * np.sin(theta))**2, 0.))) / 2.)
  integral = np.pi / 4. * np.sum(weights * integrand)
  return math.log(2. * math.cosh(2. * coupling)) + integral / np.pi


def onsager_energy_per_site(temperature):
  """Onsager's infinite-lattice energy per site.

  `u = -coth 2K [1 + (2/pi) (2 tanh^2 2K - 1) K_1(kappa)]`, with `K_1` the
  complete elliptic integral of the first kind (arithmetic-geometric mean).
  At `T_c` the logarithmic divergence of `K_1` is cancelled by its vanishing
  prefactor and `u = -sqrt(2)`.

  Args:
    temperature: positive finite Python float.

  Returns:
    The energy per site as a Python float.

  Raises:
    TypeError, ValueError: for a malformed `lattice_size` or `temperature`,
      or a temperature above `MAX_DERIVATIVE_TEMPERATURE`.
  """
  coupling, kappa = _onsager_kappa(temperature)
  prefactor = 2. * math.tanh(2. * coupling)**2 - 1.
  complement = 1. - kappa**2
  if complement <= 0. or prefactor == 0.:
    elliptic_term = 0.
  else:
    a, b = 1., math.sqrt(complement)
    while abs(a - b) > 1e-15 * a:
      a, b = (a + b) / 2., math.sqrt(a * b)
    elliptic_term = prefactor * math.pi / (2. * a)
  return -(1. + 2. / math.pi * elliptic_term) / math.tanh(2. * coupling)
