"""CD and PCD losses: their gradient estimates against the exact NLL gradient, seeds, errors, Trainer use.

The oracle is ``NLLLoss(method="exact")`` on small models (a chain, latent
variables on a star and on a loop): its gradient is ``E_{z|y_i}[dE/dW] -
E_{y,z}[dE/dW]`` exactly. CD-k with k large and PCD after a long burn-in draw
(nearly) exact samples of the model, so their estimates must be unbiased
(z-tests over independent seeds) with an error shrinking like 1/sqrt(n).
"""

import zlib

import numpy as np
import pytest

from ebm_models import chain_graph, chain_parameters, latent_graph, latent_parameters, tagging_data
from factorgraph_ebm import FactorGraph, LinearEnergy, Trainer
from factorgraph_ebm.exceptions import DeclarationError, ParseError, TrainingError
from factorgraph_ebm.losses import LOSSES, CDLoss, NLLLoss, PCDLoss, get_loss, make_batch
from factorgraph_ebm.losses.base import Derivative
from factorgraph_ebm.train import load_checkpoint
from factorgraph_ebm.utils.npz import read_npz_json, write_npz_json


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def model(kind):
    """(batch, parameters, exact NLL gradient as a flat vector, beta) of a two-example model."""
    rng = _rng(kind)
    beta = 2.0 if kind == "latent-beta" else 1.0
    if kind == "chain":
        graphs = [chain_graph(rng, length=3, states=2) for _ in range(2)]
        targets = [rng.integers(0, 2, size=3) for _ in range(2)]
        params = chain_parameters(rng, states=2)
    else:
        loopy = kind == "latent-loopy"
        graphs = [latent_graph(rng, loopy=loopy) for _ in range(2)]
        targets = [int(rng.integers(3)) for _ in range(2)]
        params = latent_parameters(rng, loopy=loopy)
    params = params.unflatten(0.7 * params.flatten())     # moderate couplings: Gibbs mixes in a few sweeps
    batch = make_batch(graphs, targets, parameters=params)
    exact = NLLLoss(beta=beta, method="exact")(batch, parameters=params).gradient.flatten()
    return batch, params, exact, beta


def estimates(make_loss, batch, params, seeds, evaluations=1):
    """(len(seeds), n_parameters) gradient estimates, one per seed (the last of ``evaluations``)."""
    out = []
    for seed in seeds:
        loss = make_loss(seed)
        for _ in range(evaluations):
            res = loss(batch, parameters=params)
        out.append(res.gradient.flatten())
    return np.array(out)


def assert_unbiased(est, exact, n_samples, z_max=4.5):
    """Per-parameter z-test of the mean of iid estimates against the exact gradient.

    ``n_samples`` samples per example in all: one count of a rare configuration
    (never or always seen, zero sample variance) moves the mean by about
    ``1 / n_samples``, added to the standard error as its resolution.
    """
    mean = est.mean(axis=0)
    se = np.hypot(est.std(axis=0, ddof=1) / np.sqrt(len(est)), 1.0 / n_samples)
    z = (mean - exact) / se
    assert np.abs(z).max() < z_max, (z, mean, exact)


@pytest.mark.parametrize("kind", ["chain", "latent", "latent-loopy", "latent-beta"])
def test_cd_with_large_k_is_an_unbiased_estimate_of_the_nll_gradient(kind):
    batch, params, exact, beta = model(kind)
    est = estimates(lambda s: CDLoss(k=25, n_chains=32, beta=beta, seed=s, method="exact"), batch, params,
                    range(30))
    assert_unbiased(est, exact, 30 * 32)


@pytest.mark.parametrize("loss", [CDLoss, PCDLoss])
def test_a_sampled_positive_phase_is_unbiased_too(loss):
    batch, params, exact, _ = model("latent")
    est = estimates(lambda s: loss(k=20, n_chains=32, latent="sample", seed=s, method="exact"), batch, params,
                    range(30))
    assert_unbiased(est, exact, 30 * 32)
    out = loss(k=2, n_chains=5, latent="sample", seed=0)(batch, parameters=params)
    pos, neg = out.terms["positive"], out.terms["negative"]
    assert pos.derivative.state.shape == (5, batch.compiled.n_vars)
    assert (pos.derivative.state[:, batch.is_output] == batch.target[batch.is_output]).all()   # y clamped
    np.testing.assert_allclose(out.values, pos.values - neg.values)
    np.testing.assert_allclose(pos.values, out.compiled.graph_energies(pos.derivative.state).mean(axis=0))


@pytest.mark.parametrize("chains", ["per-example", "pool"])
def test_pcd_after_a_long_burn_in_is_an_unbiased_estimate_of_the_nll_gradient(chains):
    rng = _rng("pcd-" + chains)
    graph = latent_graph(rng, loopy=True)              # one shared graph: the pool applies
    params = latent_parameters(rng, loopy=True)
    params = params.unflatten(0.7 * params.flatten())
    batch = make_batch(graph, [0, 2, 1], parameters=params)
    exact = NLLLoss(method="exact")(batch, parameters=params).gradient.flatten()
    est = estimates(lambda s: PCDLoss(k=8, n_chains=32, chains=chains, seed=s, method="exact"), batch, params,
                    range(30), evaluations=4)      # 1 + 32 sweeps from the data
    assert_unbiased(est, exact, 30 * 32)


def test_gradient_error_shrinks_like_one_over_sqrt_n():
    batch, params, exact, _ = model("latent-loopy")
    sizes = [64, 256, 1024, 4096]
    rms = []
    for n in sizes:
        est = estimates(lambda s: CDLoss(k=15, n_chains=n, seed=s, method="exact"), batch, params, range(6))
        rms.append(np.sqrt(np.mean((est - exact) ** 2)))
    rms = np.array(rms)
    assert (np.diff(rms) < 0).all(), rms
    # 64x the samples: 8x smaller error for an unbiased estimate (a bias of CD-15 would show as a floor)
    assert 4.0 < rms[0] / rms[-1] < 16.0, rms


def test_cd0_gives_zero_gradient_at_the_data():
    batch, params, _, _ = model("chain")       # no latents: the negative samples are the targets themselves
    out = CDLoss(k=0, n_chains=3, seed=1)(batch, parameters=params)
    assert np.abs(out.gradient.flatten()).max() < 1e-12
    np.testing.assert_allclose(out.values, 0.0, atol=1e-12)
    batch, params, _, _ = model("latent")      # with latents: zero in expectation (z drawn given the data)
    est = estimates(lambda s: CDLoss(k=0, n_chains=16, seed=s, method="exact"), batch, params, range(30))
    assert_unbiased(est, np.zeros(est.shape[1]), 30 * 16)


def test_value_is_positive_free_energy_minus_mean_sample_energy():
    batch, params, _, _ = model("latent")
    out = CDLoss(k=2, n_chains=5, seed=3, method="exact")(batch, parameters=params)
    samples = out.terms["negative"].derivative.state
    assert samples.shape == (5, batch.compiled.n_vars)
    energies = np.array([out.compiled.graph_energies(s.astype(np.int64)) for s in samples])
    pos = NLLLoss(method="exact")(batch, parameters=params).terms["positive"].values
    np.testing.assert_allclose(out.values, pos - energies.mean(axis=0))


def test_a_shared_pool_counts_like_one_copy_of_it_per_example():
    rng = _rng("shared-pool")
    graph = latent_graph(rng, loopy=True)
    params = latent_parameters(rng, loopy=True)
    batch = make_batch(graph, [0, 2, 1], parameters=params)
    out = PCDLoss(k=2, n_chains=6, chains="pool", seed=1)(batch, parameters=params)
    neg = out.terms["negative"]
    pool = neg.derivative.state
    assert pool.shape == (6, graph.n_vars)
    tiled = Derivative(out.compiled, state=np.tile(pool, (1, 3)))     # the pool repeated for every example
    coef = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(neg.derivative.entries(coef), tiled.entries(coef))
    a, b = np.zeros(len(out.compiled.wiring.tables) // 2), np.zeros(len(out.compiled.wiring.tables) // 2)
    neg.derivative.add_to_tables(a, coef)
    tiled.add_to_tables(b, coef)
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(neg.values, out.compiled.graph_energies(np.tile(pool, (1, 3))).mean(axis=0))


def test_evidence_stays_clamped_in_the_negative_samples():
    fg = FactorGraph()
    x = fg.add_variables("x", shape=2, states=3, role="observed")
    y = fg.add_variables("y", shape=2, states=2)
    fg.add_factor_group(np.stack([x.ids, y.ids], 1), LinearEnergy("A"), name="xy")
    fg.add_factor([y[0], y[1]], LinearEnergy("B"), name="yy")
    params = {"A": np.ones((3, 2)), "B": np.eye(2)}
    evidence = [{"x": [2, 0]}, {"x": [1, 1]}]
    batch = make_batch(fg, [[0, 1], [1, 1]], evidence, parameters=params)
    for loss in (CDLoss(k=3, n_chains=4, seed=0), PCDLoss(k=3, n_chains=4, seed=0)):
        samples = loss(batch, parameters=params).terms["negative"].derivative.state
        clamped = batch.evidence >= 0
        assert (samples[:, clamped] == batch.evidence[clamped]).all()
    with pytest.raises(TrainingError, match=r"example 1 has other evidence than example 0; use chains='per-example'"):
        PCDLoss(chains="pool")(batch, parameters=params)


def test_seeds_make_estimates_reproducible_and_pcd_continues_its_chains():
    batch, params, _, _ = model("latent-loopy")
    a = CDLoss(k=2, n_chains=8, seed=5)(batch, parameters=params).gradient.flatten()
    b = CDLoss(k=2, n_chains=8, seed=5)(batch, parameters=params).gradient.flatten()
    c = CDLoss(k=2, n_chains=8, seed=6)(batch, parameters=params).gradient.flatten()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    loss = CDLoss(k=2, n_chains=8, seed=5)
    first, second = (loss(batch, parameters=params).gradient.flatten() for _ in range(2))
    assert not np.array_equal(first, second)           # every evaluation draws anew
    assert loss.sweeps_done == 2 * (1 + 2)             # one sweep for the latents, k for the chains
    rng = _rng("shared")
    params = latent_parameters(rng, loopy=True)
    batch = make_batch(latent_graph(rng, loopy=True), [0, 2], parameters=params)   # one graph: the pool applies
    for chains in ("per-example", "pool"):
        pcd = PCDLoss(k=3, n_chains=4, chains=chains, seed=9)
        pcd(batch, parameters=params)
        arrays, meta = pcd.get_state()
        restored = PCDLoss(k=3, n_chains=4, chains=chains)
        restored.set_state(arrays, meta)
        assert np.array_equal(pcd(batch, parameters=params).gradient.flatten(),
                              restored(batch, parameters=params).gradient.flatten())
        assert pcd.sweeps_done == restored.sweeps_done == 1 + 3 + 3


def test_per_example_chains_refuse_other_data():
    batch, params, _, _ = model("latent")
    pcd = PCDLoss(seed=0)
    pcd(batch, parameters=params)
    rng = _rng("other")
    both = {**params, **chain_parameters(rng)}
    other = make_batch([latent_graph(rng), chain_graph(rng, length=6)], [0, np.zeros(6, dtype=np.int64)],
                       parameters=both)
    with pytest.raises(TrainingError, match=r"persistent chains of example 1 have 4 variables, the example has 6: "
                                            r"the data changed; call reset_state\(\)"):
        pcd(other, parameters=both)
    pcd.reset_state()
    assert np.isfinite(pcd(other, parameters=both).value)


@pytest.mark.parametrize("make, message", [
    (lambda: CDLoss(k=-1), r"CDLoss: k must be >= 0, got -1"),
    (lambda: CDLoss(k=1.5), r"CDLoss: k must be an integer, got 1.5"),
    (lambda: CDLoss(k=None), r"CDLoss: k must be an int, got None"),
    (lambda: PCDLoss(n_chains=0), r"PCDLoss: n_chains must be >= 1, got 0"),
    (lambda: PCDLoss(chains="shared"), r"chains must be one of \['per-example', 'pool'\], got 'shared'"),
    (lambda: CDLoss(schedule="random"), r"schedule must be one of \['chromatic', 'sequential'\]"),
    (lambda: CDLoss(beta=np.inf), r"beta must be finite"),
    (lambda: CDLoss(latent="exact"), r"CDLoss: latent must be one of \['infer', 'sample'\], got 'exact'"),
    (lambda: CDLoss(seed=-3), r"CDLoss: seed must be >= 0"),
    (lambda: get_loss("cd", chains="pool"), r"loss 'cd' takes no option 'chains'"),
    (lambda: get_loss("contrastive-divergence"), r"did you mean 'cd'\?"),
])
def test_bad_options_are_refused(make, message):
    with pytest.raises(DeclarationError, match=message):
        make()


def test_names_and_options():
    assert LOSSES["cd"] is CDLoss and LOSSES["pcd"] is PCDLoss
    assert get_loss("pcd", k=3, chains="pool").k == 3
    assert CDLoss.stochastic and not NLLLoss.stochastic


# ------------------------------------------------------------------ Trainer
def _tagging():
    graphs, targets = tagging_data(_rng("tagging"), n_sentences=8, length=4)
    return graphs, targets, {"E": np.zeros((4, 3)), "T": np.zeros((3, 3))}


@pytest.mark.parametrize("loss, optimizer", [("cd", "sgd"), ("pcd", "adam"), (PCDLoss(k=2, n_chains=3), "sgd")])
def test_trainer_fits_with_sampling_losses(loss, optimizer):
    graphs, targets, p0 = _tagging()
    trainer = Trainer(loss, optimizer, learning_rate=0.2, batch_size=4, max_epochs=6, random_state=0,
                      progress=False).fit(graphs, targets, parameters=p0)
    assert trainer.score(graphs, targets) == 1.0
    again = Trainer(loss, optimizer, learning_rate=0.2, batch_size=4, max_epochs=6, random_state=0,
                    progress=False).fit(graphs, targets, parameters=p0)
    other = Trainer(loss, optimizer, learning_rate=0.2, batch_size=4, max_epochs=6, random_state=1,
                    progress=False).fit(graphs, targets, parameters=p0)
    assert np.array_equal(trainer.theta_, again.theta_)          # seeded by random_state
    assert not np.array_equal(trainer.theta_, other.theta_)
    if isinstance(loss, PCDLoss):
        assert loss.sweeps_done == 0       # the trainer sampled with its own copy


def test_trainer_refuses_lbfgs_for_a_loss_that_samples():
    graphs, targets, p0 = _tagging()
    for loss in ("cd", PCDLoss()):
        with pytest.raises(TrainingError, match=r"loss '(cd|pcd)' uses samples; use sgd or adam"):
            Trainer(loss, "lbfgs", progress=False).fit(graphs, targets, parameters=p0)


@pytest.mark.parametrize("loss", [CDLoss(k=1, n_chains=2), PCDLoss(k=1, n_chains=2),
                                  PCDLoss(k=2, n_chains=5, chains="pool")])
def test_checkpoint_resume_equals_an_uninterrupted_run(loss, tmp_path):
    if loss.chains == "pool" if isinstance(loss, PCDLoss) else False:
        graph = latent_graph(_rng("pool-train"))
        graphs, targets, p0 = graph, [0, 1, 2, 1, 0], latent_parameters(_rng("pool-p0"))
    else:
        graphs, targets, p0 = _tagging()
    settings = dict(loss=loss, optimizer="adam", learning_rate=0.1, batch_size=3, random_state=0, progress=False)
    full = Trainer(max_epochs=4, **settings).fit(graphs, targets, parameters=p0)
    Trainer(max_epochs=2, checkpoint=tmp_path / "c.npz", **settings).fit(graphs, targets, parameters=p0)
    saved = load_checkpoint(tmp_path / "c.npz")[3]
    assert saved["loss_state"]["sweep"] > 0
    resumed = Trainer(max_epochs=4, **settings).fit(graphs, targets, resume=tmp_path / "c.npz")
    assert np.array_equal(full.theta_, resumed.theta_)
    assert full.loss_.sweeps_done == resumed.loss_.sweeps_done
    if isinstance(loss, PCDLoss):
        a, b = full.loss_.get_state()[0], resumed.loss_.get_state()[0]
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_damaged_loss_state_is_refused_naming_the_field(tmp_path):
    graphs, targets, p0 = _tagging()
    settings = dict(loss=PCDLoss(n_chains=2), optimizer="sgd", batch_size=4, random_state=0, progress=False)
    Trainer(max_epochs=1, checkpoint=tmp_path / "c.npz", **settings).fit(graphs, targets, parameters=p0)
    arrays, meta = read_npz_json(tmp_path / "c.npz")
    arrays["loss/ptr"] = arrays["loss/ptr"][:-1]
    write_npz_json(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ParseError, match=r"bad.npz: field 'loss/ptr': expected 9 offsets"):
        Trainer(max_epochs=2, **settings).fit(graphs, targets, resume=tmp_path / "bad.npz")
