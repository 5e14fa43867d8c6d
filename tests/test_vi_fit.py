"""flows.vi beyond doctests: the reverse-KL fit and its learning-rate schedule,
the energies' input checks."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.flows.vi import ENERGIES
from tfp_flows.flows.vi import _AnnealThenCosine
from tfp_flows.flows.vi import fit_reverse_kl
from tfp_flows.flows.vi import log_normalizer_on_grid
from tfp_flows.flows.vi import planar_flow
from tfp_flows.flows.vi import reverse_kl_estimate


def test_fit_reverse_kl_fits_a_gaussian_energy():
    mean, scale = np.array([1.0, -0.5], np.float32), 0.7

    def energy(z):
        return 0.5 * tf.reduce_sum(tf.square((z - mean) / scale), -1)

    log_z = log_normalizer_on_grid(energy)
    np.testing.assert_allclose(log_z, math.log(2 * math.pi * scale**2), atol=1e-6)
    flow = planar_flow(2, num_layers=4, seed=0)
    kl_before = reverse_kl_estimate(flow, energy, log_z, num_samples=4000)["kl"]
    losses = fit_reverse_kl(flow, energy, num_steps=400, seed=1)
    kl_after = reverse_kl_estimate(flow, energy, log_z, num_samples=4000)["kl"]
    assert len(losses) == 400 and np.all(np.isfinite(losses))
    assert kl_before > 0.5
    assert kl_after < 0.2 * kl_before


def test_schedule_holds_then_decays_on_a_cosine():
    sched = _AnnealThenCosine(1e-2, 0.01, hold=100, total=401)
    lr = [float(sched(t)) for t in (0, 100, 250, 400, 500)]
    np.testing.assert_allclose(lr[:2], [1e-2, 1e-2], rtol=1e-6)
    np.testing.assert_allclose(lr[2], 1e-4 + (1e-2 - 1e-4) * 0.5, rtol=1e-5)
    np.testing.assert_allclose(lr[3:], [1e-4, 1e-4], rtol=1e-5)


def test_fit_reverse_kl_bad_arguments():
    flow = planar_flow(2, num_layers=1)
    with pytest.raises(ValueError, match=r"`decay_to` must be in \(0, 1\]; got 0.0"):
        fit_reverse_kl(flow, ENERGIES["U1"], num_steps=2, decay_to=0.0)
    with pytest.raises(ValueError, match="`num_steps`.*0"):
        fit_reverse_kl(flow, ENERGIES["U1"], num_steps=0)


@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_energies_reject_non_2d_input(name):
    with pytest.raises(
        ValueError, match=r"`z` must have shape \[\.\.\., 2\].*\[4, 3\]"
    ):
        ENERGIES[name](tf.zeros([4, 3]))
