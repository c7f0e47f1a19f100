"""Every loss's parameter gradient equals finite differences of its value.

Models: a chain (tree BP; dense or scipy.sparse features), a loopy graph (exact inference by junction tree),
latent variables (on a tree and on a loopy graph), each with LinearEnergy
tables and, for the chain and the loop, with a custom non-linear energy.
Directional derivatives along random directions are compared, which checks
the whole gradient vector.
"""

import zlib

import numpy as np
import pytest

from ebm_models import (
    chain_graph,
    chain_parameters,
    latent_graph,
    latent_parameters,
    loopy_graph,
)
from factorgraph_ebm.losses import (
    EnergyLoss,
    HingeLoss,
    LogLoss,
    MarginLoss,
    MCELoss,
    NLLLoss,
    PerceptronLoss,
    SimpleLoss,
    SquareExponentialLoss,
    SquareSquareLoss,
    make_batch,
)


def squared_hinge(e_pos, e_neg, m):
    z = np.maximum(m + e_pos - e_neg, 0.0)
    return z * z, 2 * z, -2 * z


def model(kind, rng):
    """(graphs, targets, parameters, method) for a batch of two examples."""
    if kind in ("chain", "chain-custom", "chain-sparse"):
        custom = kind.endswith("custom")
        graphs = [chain_graph(rng, custom=custom, sparse=kind.endswith("sparse")) for _ in range(2)]
        targets = [rng.integers(0, 3, size=4) for _ in range(2)]
        return graphs, targets, chain_parameters(rng, custom=custom), "auto"
    if kind in ("loopy", "loopy-custom"):
        custom = kind.endswith("custom")
        graphs = [loopy_graph(rng, custom=custom) for _ in range(2)]
        targets = [rng.integers(0, 2, size=4) for _ in range(2)]
        params = chain_parameters(rng, states=2, custom=custom)
        return graphs, targets, params, "exact"
    loopy = kind == "latent-loopy"
    graphs = [latent_graph(rng, loopy=loopy) for _ in range(2)]
    targets = [int(rng.integers(3)) for _ in range(2)]
    return graphs, targets, latent_parameters(rng, loopy=loopy), "exact" if loopy else "auto"


LOSSES = {
    "energy": lambda m: EnergyLoss(method=m),
    "perceptron": lambda m: PerceptronLoss(method=m),
    "nll": lambda m: NLLLoss(method=m),
    "nll-beta2.5": lambda m: NLLLoss(beta=2.5, method=m),
    "hinge": lambda m: HingeLoss(method=m, margin=2.0),
    "hinge-hamming": lambda m: HingeLoss(offending="hamming", margin=1.5, method=m),
    "margin-custom-q": lambda m: MarginLoss(squared_hinge, margin=2.0, method=m),
    "log": lambda m: LogLoss(method=m),
    "simple": lambda m: SimpleLoss(margin=2.0, method=m),
    "square-square": lambda m: SquareSquareLoss(margin=2.0, method=m),
    "square-exponential": lambda m: SquareExponentialLoss(gamma=0.5, method=m),
    "mce": lambda m: MCELoss(method=m),
}
LATENT_ONLY = {
    "energy-free-z": lambda m: EnergyLoss(latent_beta=2.0, method=m),
    "hinge-free-z": lambda m: HingeLoss(latent_beta=1.5, method=m),
    "log-hamming": lambda m: LogLoss(offending="hamming", margin=0.3, method=m),
}
KINDS = ["chain", "chain-custom", "chain-sparse", "loopy", "loopy-custom", "latent", "latent-loopy"]
CASES = [(k, name) for k in KINDS for name in LOSSES] + \
        [(k, name) for k in ("latent", "latent-loopy") for name in LATENT_ONLY]


def directional_check(loss, batch, params, rng, n_directions=3, h=1e-6):
    out = loss(batch, parameters=params)
    assert np.isfinite(out.value)
    grad = out.gradient.flatten()
    assert np.abs(grad).max() > 1e-4  # a non-trivial case
    theta = params.flatten()
    assert grad.shape == theta.shape
    for _ in range(n_directions):
        d = rng.normal(size=theta.shape)
        up = loss(batch, parameters=params.unflatten(theta + h * d)).value
        down = loss(batch, parameters=params.unflatten(theta - h * d)).value
        fd = (up - down) / (2 * h)
        assert grad @ d == pytest.approx(fd, rel=1e-5, abs=1e-6)
    return out


@pytest.mark.parametrize("kind,loss_name", CASES)
def test_gradient_matches_finite_differences(kind, loss_name):
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{loss_name}".encode()))
    graphs, targets, params, method = model(kind, rng)
    loss = {**LOSSES, **LATENT_ONLY}[loss_name](method)
    if loss_name == "mce":  # keep the sigmoid away from saturation
        params = params.unflatten(0.2 * params.flatten())
    batch = make_batch(graphs, targets, parameters=params)
    out = directional_check(loss, batch, params, rng)
    assert out.values.shape == (2,)
    assert out.sensitivity.shape == (batch.compiled.factor_entry_ptr[-1],)


def test_sensitivity_of_nll_is_target_indicator_minus_factor_marginals():
    rng = np.random.default_rng(1)
    graphs, targets, params, _ = model("chain", rng)
    batch = make_batch(graphs[:1], targets[:1], parameters=params)
    out = NLLLoss()(batch, parameters=params)
    from factorgraph_ebm import infer

    res = infer(out.compiled, beta=1.0)
    cg = out.compiled
    indicator = np.zeros_like(out.sensitivity)
    indicator[cg.factor_entry_ptr[:-1] + cg.entry_offsets(batch.positive)] = 1.0
    np.testing.assert_allclose(out.sensitivity, indicator - res.factor_marginal_array(), atol=1e-12)
