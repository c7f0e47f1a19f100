"""A Gaussian-Bernoulli RBM as a factor graph: P(h | x) factorizes, F(x) in closed form, CD-k / PCD on the digits.

The energy of an image ``x`` (real pixels, ``D = 64``) and binary hidden units
``h`` (``K`` of them) is

    E(x, h) = x.x - b.x - c.h + h.W f(x),        f(x) = x,

with parameters ``W`` (K, D), visible biases ``b`` (D,) and hidden biases
``c`` (K,). Write ``a(x) = W x - c``, so that ``E = x.x - b.x + h.a(x)``.

Given x, the energy is a sum of one term per hidden unit, so the factor graph
of ``P(h | x)`` has one unary factor per hidden unit (table ``[0, a_k(x)]``)
plus a constant ``x.x - b.x`` that sits on a one-state variable ``x`` (the
image, baked into the energies). There is no factor joining two hidden units,
so ``P(h | x)`` factorizes and

    P(h_k = 1 | x) = exp(-a_k) / (1 + exp(-a_k)) = sigmoid(-a_k(x)),
    F(x) = -log sum_h exp(-E(x, h)) = x.x - b.x - sum_k log(1 + exp(-a_k(x))).

The script checks all three statements against the engine: the sum-product
marginals and free energy of ``infer`` (and ``free_energy``) against these
closed forms, and the joint ``P(h | x) = exp(-(E(x, h) - F(x)))`` over every
``h`` (the engine's ``energy`` of each assignment, ``method="enumerate"``) on a
few hidden units against the product of the marginals.

The other conditional. Given h, the energy is quadratic in x:
``E = |x - m/2|^2 - |m|^2/4 - c.h`` with ``m = b - W^T h``, so

    p(x | h) = Normal(mean (b - W^T h) / 2, covariance I / 2).

Integrating x out. ``int exp(-E(x, h)) dx = pi^(D/2) exp(|b|^2/4) exp(-E_h(h))``
where ``E_h`` is a fully connected Boltzmann machine over h, with unary
energies ``-c_k + (W b)_k / 2 - G_kk / 4`` on ``h_k = 1`` and pairwise energies
``-G_kl / 2`` on ``h_k = h_l = 1`` (``G = W W^T``). The script declares it as a
factor graph whose energies are functions of ``(W, b, c)``
(``BoltzmannUnaryEnergy``, ``BoltzmannPairEnergy``, with their ``backward``),
so the model's marginal over h is ``p(h) = exp(-E_h(h)) / Z_h``.

Learning. ``-log p(x) = F(x) + log Z`` with
``log Z = D/2 log pi + |b|^2/4 + log Z_h``, so the gradient of the mean negative
log-likelihood is the data term minus the model term,

    d/dθ mean_i[-log p(x_i)] = mean_i dF(x_i)/dθ - (E_{h ~ p(h)}[dE_h(h)/dθ] - d(|b|^2/4)/dθ).

``dF(x)/dθ`` is the gradient of the energy loss with the hidden units summed
out at beta = 1 (``EnergyLoss(latent_beta=1.0)``), exact. The model term is
the model term of the Boltzmann machine over h, estimated by the package's
sampling losses on that graph (no Gibbs loop of the example's own): the loss's
gradient is ``dE_h(h_i)/dθ - mean_s dE_h(h_s)/dθ`` over its Gibbs samples
``h_s``, so subtracting it from ``EnergyLoss``'s gradient at the same targets
``h_i`` leaves the sampled model term. The targets are the data's hidden states,
``h_i ~ P(h | x_i)`` (one sweep of the package's Gibbs sampler on the images'
graphs draws them exactly, the units being independent given x).

* ``--negative cd``: ``CDLoss(k)``, the chains start at the data's ``h_i``
  and run ``k`` sweeps (CD-k with x integrated out);
* ``--negative pcd`` (default): ``PCDLoss(k, chains="pool")``, a pool of
  ``--particles`` fantasy particles kept from step to step (Tieleman 2008),
  with a learning rate decaying linearly to 0 (``--lr-schedule``).

No x is sampled for the gradient (its conditional expectation is exact); the
figure shows the mean images ``(b - W^T h) / 2`` of the final particles.

Exact log-likelihood. The engine gives ``log Z_h`` by enumerating the ``2**K``
states of the Boltzmann machine's factor graph (checked against numpy's
evaluation of ``log Z = log(pi^(D/2) sum_h exp(c.h + |b - W^T h|^2 / 4))``), so
the script reports the exact mean log-likelihood ``mean(-F(x)) - log Z`` of
the training images and of held-out images, before and after training. Two
cheaper progress measures are printed as well: the one-step reconstruction
error and the free-energy gap between pixel-shuffled images (each pixel
shuffled across the images: the same pixel histograms, no correlations) and
the real ones. That gap is exactly 0 when ``W = 0``, so it measures what the
hidden units learned.

Run ``python examples/rbm_free_energy.py`` (about a minute) or ``--quick`` (seconds);
``--plot DIR`` writes ``rbm_digits.png`` (filters, free-energy histograms, the
log-likelihood per epoch, fantasy particles) into DIR (needs matplotlib).
"""

import argparse
import importlib.util
import itertools
import pathlib

import numpy as np
from scipy.special import expit, logsumexp

from factorgraph_ebm import Energy, FactorGraph, Parameters, compile_graph, free_energy, infer
from factorgraph_ebm.losses import CDLoss, EnergyLoss, NLLLoss, PCDLoss
from factorgraph_ebm.sample import run_chains
from factorgraph_ebm.train import SGD

#: Largest number of hidden units for which log Z is computed exactly (2**K hidden states).
MAX_EXACT_HIDDEN = 18
#: The ways the model term is sampled (``--negative``).
NEGATIVES = ("pcd", "cd")
#: Defaults that depend on ``--negative`` (chosen by the measurements in docs/examples/rbm_free_energy.md).
DEFAULTS = {
    "pcd": dict(k=5, particles=500, learning_rate=0.1, lr_schedule="linear"),
    "cd": dict(k=1, particles=500, learning_rate=0.05, lr_schedule="constant"),
}
#: The PNG file ``--plot DIR`` writes.
FIGURES = ("rbm_digits.png",)


class VisibleEnergy(Energy):
    """The constant ``x.x - b.x`` of one image, on a one-state variable.

    Examples
    --------
    >>> VisibleEnergy(np.array([1.0, 2.0])).table({"b": [0.5, 0.5]})
    array([3.5])
    """

    parameter_names = ("b",)

    def __init__(self, x):
        self.x = np.asarray(x, dtype=np.float64)

    def table(self, parameters=None):
        return np.array([self.x @ self.x - np.asarray(parameters["b"]) @ self.x])

    def backward(self, sensitivity, parameters=None):
        return {"b": -float(np.sum(sensitivity)) * self.x}


class HiddenEnergy(Energy):
    """The unary energies ``[0, a_k(x)]`` of the K hidden units, ``a(x) = W x - c``.

    Examples
    --------
    >>> e = HiddenEnergy(np.array([1.0, 2.0]))
    >>> e.table({"W": [[1.0, 0.0], [0.0, 1.0]], "c": [0.5, 0.0]})
    array([[0. , 0.5],
           [0. , 2. ]])
    """

    parameter_names = ("W", "c")

    def __init__(self, x):
        self.x = np.asarray(x, dtype=np.float64)

    def table(self, parameters=None):
        a = np.asarray(parameters["W"]) @ self.x - np.asarray(parameters["c"])
        return np.stack([np.zeros_like(a), a], axis=1)

    def backward(self, sensitivity, parameters=None):
        s_on = np.asarray(sensitivity)[:, 1]
        return {"W": np.outer(s_on, self.x), "c": -s_on}


def rbm_graph(x, n_hidden):
    """The factor graph of ``P(h | x)``: one-state ``x`` (output), K latent binary ``h``.

    Examples
    --------
    >>> p = Parameters(W=np.zeros((3, 2)), b=np.zeros(2), c=np.zeros(3))
    >>> round(infer(rbm_graph([1.0, 1.0], 3), parameters=p).free_energy, 6)   # 2 - 3 log 2
    -0.079442
    """
    fg = FactorGraph()
    fg.add_variable("x", 1, role="output")
    h = fg.add_variables("h", shape=n_hidden, states=2, role="latent")
    fg.add_factor(["x"], VisibleEnergy(x), name="visible")
    fg.add_factor_group(h.ids[:, None], HiddenEnergy(x), name="hidden")
    return fg


# ---------------------------------------------------------------- closed forms
def hidden_activation(x, params):
    """``a(x) = W x - c`` for each row of ``x``: shape (n, K)."""
    return x @ params["W"].T - params["c"]


def closed_form_marginals(x, params):
    """``P(h_k = 1 | x) = sigmoid(-a_k(x))``, shape (n, K)."""
    return expit(-hidden_activation(x, params))


def closed_form_free_energy(x, params):
    """``F(x) = x.x - b.x - sum_k log(1 + exp(-a_k(x)))``, shape (n,)."""
    return np.sum(x * x, axis=1) - x @ params["b"] - np.logaddexp(0.0, -hidden_activation(x, params)).sum(axis=1)


# ---------------------------------------------------------------- the Boltzmann machine over h
class BoltzmannUnaryEnergy(Energy):
    """Unary energies of the Boltzmann machine over h: ``[0, -c_k + (W b)_k / 2 - |W_k|^2 / 4]``.

    Examples
    --------
    >>> e = BoltzmannUnaryEnergy()
    >>> e.table({"W": [[2.0, 0.0]], "b": [1.0, 1.0], "c": [0.5]})     # -0.5 + 1 - 1
    array([[ 0. , -0.5]])
    """

    parameter_names = ("W", "b", "c")

    def table(self, parameters=None):
        w, b, c = (np.asarray(parameters[n], dtype=np.float64) for n in ("W", "b", "c"))
        on = -c + (w @ b) / 2.0 - np.einsum("kd,kd->k", w, w) / 4.0
        return np.stack([np.zeros_like(on), on], axis=1)

    def backward(self, sensitivity, parameters=None):
        w, b = np.asarray(parameters["W"], dtype=np.float64), np.asarray(parameters["b"], dtype=np.float64)
        s_on = np.asarray(sensitivity).reshape(-1, 2)[:, 1]            # one unit: the engine may pass (2,)
        return {"W": s_on[:, None] * (b[None, :] - w) / 2.0, "b": w.T @ s_on / 2.0, "c": -s_on}


class BoltzmannPairEnergy(Energy):
    """Pairwise energies ``-(W W^T)_kl / 2`` on ``h_k = h_l = 1``, one 2 x 2 table per pair ``(k, l)``.

    Examples
    --------
    >>> e = BoltzmannPairEnergy([[0, 1]])
    >>> e.table({"W": [[1.0, 2.0], [3.0, -1.0]]})                     # -(3 - 2) / 2
    array([[[ 0. ,  0. ],
            [ 0. , -0.5]]])
    """

    parameter_names = ("W",)

    def __init__(self, pairs):
        self.pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)

    def table(self, parameters=None):
        w = np.asarray(parameters["W"], dtype=np.float64)
        out = np.zeros((len(self.pairs), 2, 2))
        out[:, 1, 1] = -np.einsum("pd,pd->p", w[self.pairs[:, 0]], w[self.pairs[:, 1]]) / 2.0
        return out

    def backward(self, sensitivity, parameters=None):
        w = np.asarray(parameters["W"], dtype=np.float64)
        s11 = np.asarray(sensitivity).reshape(-1, 2, 2)[:, 1, 1]       # one pair: the engine may pass (2, 2)
        grad = np.zeros_like(w)
        k, l = self.pairs[:, 0], self.pairs[:, 1]
        np.add.at(grad, k, -s11[:, None] * w[l] / 2.0)
        np.add.at(grad, l, -s11[:, None] * w[k] / 2.0)
        return {"W": grad}


def hidden_boltzmann_graph(n_hidden):
    """The Boltzmann machine over h left after integrating x out (see the module docstring).

    Its energies are functions of the RBM's parameters ``(W, b, c)``: compile
    or infer it with ``parameters=``.

    Examples
    --------
    >>> p = Parameters(W=np.zeros((3, 2)), b=np.zeros(2), c=np.zeros(3))
    >>> round(infer(hidden_boltzmann_graph(3), parameters=p, method="enumerate").log_partition, 6)  # 3 log 2
    2.079442
    """
    fg = FactorGraph()
    h = fg.add_variables("h", shape=n_hidden, states=2)
    fg.add_factor_group(h.ids[:, None], BoltzmannUnaryEnergy(), name="unary")
    pairs = np.array(list(itertools.combinations(range(n_hidden), 2)), dtype=np.int64).reshape(-1, 2)
    if len(pairs):
        fg.add_factor_group(h.ids[pairs], BoltzmannPairEnergy(pairs), name="pair")
    return fg


def log_partition(params, graph=None):
    """Exact ``log Z`` of the RBM: the engine's enumeration of the hidden Boltzmann machine, plus the Gaussian integral.

    (The junction tree of a fully connected graph is one clique of all K units,
    but its projection tables grow like ``2**K x 2**(K-1)``, so enumerating
    the ``2**K`` states is the cheaper exact method here.)
    """
    d = params["b"].size
    graph = hidden_boltzmann_graph(params["c"].size) if graph is None else graph
    log_zh = infer(graph, parameters=params, method="enumerate").log_partition
    return d / 2.0 * np.log(np.pi) + params["b"] @ params["b"] / 4.0 + log_zh


def log_partition_enumerated(params):
    """The same ``log Z`` from ``pi^(D/2) sum_h exp(c.h + |b - W^T h|^2 / 4)`` with numpy (the oracle)."""
    k, d = params["W"].shape
    states = ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1).astype(np.float64)
    m = params["b"] - states @ params["W"]
    return d / 2.0 * np.log(np.pi) + logsumexp(states @ params["c"] + np.sum(m * m, axis=1) / 4.0)


def mean_log_likelihood(x, params, log_z):
    """Mean of ``log p(x) = -F(x) - log Z`` over the rows of ``x``."""
    return float(np.mean(-closed_form_free_energy(x, params)) - log_z)


def sample_visible(h, params, rng):
    """``x ~ p(x | h) = Normal((b - W^T h) / 2, I / 2)`` (exact: independent Gaussians)."""
    mean = (params["b"] - h @ params["W"]) / 2.0
    return mean + np.sqrt(0.5) * rng.standard_normal(mean.shape)


def reconstruction_error(x, params):
    """Mean squared error of the one-step mean-field reconstruction ``(b - W^T P(h | x)) / 2``."""
    recon = (params["b"] - closed_form_marginals(x, params) @ params["W"]) / 2.0
    return float(np.mean((x - recon) ** 2))


def shuffle_pixels(x, rng):
    """Each pixel shuffled across the images: the same pixel histograms, no correlation between pixels."""
    return rng.permuted(x, axis=0)


def free_energy_gap(x, params, rng):
    """Mean ``F`` of pixel-shuffled images minus mean ``F`` of the images.

    When ``W = 0``, ``F`` is a sum of one term per pixel and the gap is exactly 0,
    so a positive gap measures the pixel correlations the hidden units learned.
    """
    shuffled = shuffle_pixels(x, rng)
    return float(np.mean(closed_form_free_energy(shuffled, params)) - np.mean(closed_form_free_energy(x, params)))


# ---------------------------------------------------------------- the engine's answers
def free_energy_loss(x, params, loss):
    """The energy loss with the hidden units summed out at beta = 1 on the images ``x`` (a LossResult)."""
    graphs = [rbm_graph(row, params["c"].size) for row in x]
    return loss(graphs, [0] * len(graphs), parameters=params)


def free_energy_gradient(x, params, loss):
    """``mean_i dF(x_i)/dθ`` by the engine: the gradient of :func:`free_energy_loss`."""
    return free_energy_loss(x, params, loss).gradient


def closed_form_free_energy_gradient(x, params):
    """The same gradient in closed form: ``dF/dW = P(h | x) x^T``, ``dF/dc = -P(h | x)``, ``dF/db = -x``."""
    p = closed_form_marginals(x, params)
    n = len(x)
    return {"W": p.T @ x / n, "c": -p.mean(axis=0), "b": -x.mean(axis=0)}


def check_engine(x, params, loss):
    """Engine vs closed forms on the rows of ``x``: errors of F, marginals and the gradient of F."""
    graphs = [rbm_graph(row, params["c"].size) for row in x]
    res = infer(graphs, parameters=params)
    engine_f = np.asarray(res.free_energy)
    clamped_f = [free_energy(g, {"x": 0}, parameters=params) for g in graphs[:5]]
    engine_p = np.stack([res.marginal("h", graph=i)[:, 1] for i in range(len(graphs))])
    ref_f = closed_form_free_energy(x, params)
    f_error = max(np.abs(engine_f - ref_f).max(), np.abs(np.subtract(clamped_f, ref_f[:5])).max())
    grad = free_energy_gradient(x, params, loss)
    ref_grad = closed_form_free_energy_gradient(x, params)
    return {
        "method": res.method,
        "free_energy_error": float(f_error),
        "marginal_error": float(np.abs(engine_p - closed_form_marginals(x, params)).max()),
        "gradient_error": float(max(np.abs(grad[k] - ref_grad[k]).max() for k in ref_grad)),
    }


def factorization_error(x, params, n_units):
    """Max over ``h`` of ``|P(h | x) - prod_k P(h_k | x)|`` on the first ``n_units`` hidden units.

    The joint comes from the engine's energy of every assignment and its exact
    free energy (``method="enumerate"``): ``P(h | x) = exp(-(E(x, h) - F(x)))``.
    """
    sub = Parameters(W=params["W"][:n_units], b=params["b"], c=params["c"][:n_units])
    compiled = compile_graph(rbm_graph(x, n_units), parameters=sub)
    res = infer(compiled, method="enumerate")
    marg = res.marginal("h")
    worst = 0.0
    for h in itertools.product((0, 1), repeat=n_units):
        state = np.array((0, *h))                        # variable 0 is the one-state x
        joint = np.exp(-(compiled.energy(state) - res.free_energy))
        product = np.prod(marg[np.arange(n_units), h])
        worst = max(worst, abs(joint - product))
    return float(worst)


# ---------------------------------------------------------------- the model term, sampled
def hidden_states(data_result, seed, sweep):
    """``h_i ~ P(h | x_i)`` for the images of an ``EnergyLoss`` result: one Gibbs sweep on its compiled batch.

    The hidden units are independent given x, so one sweep draws them exactly
    (whatever the start). Draws are keyed by ``(seed, 0, sweep)``.
    Returns (n_images, K) int.
    """
    compiled = data_result.compiled
    states = np.zeros((1, compiled.n_vars), dtype=np.int32)
    run_chains(compiled, states, beta=1.0, n_sweeps=1, seed=seed, first_sweep=sweep)
    k = (compiled.n_vars // compiled.n_graphs) - 1          # each image graph: the one-state x, then K units h
    return states[0].reshape(compiled.n_graphs, k + 1)[:, 1:].astype(np.int64)


class ModelTerm:
    """``E_{(x, h) ~ p}[dE/dθ]`` estimated by a sampling loss on the Boltzmann machine over h.

    ``E_p[dE/dθ] = E_{h ~ p(h)}[dE_h(h)/dθ] - d(|b|^2/4)/dθ``. A sampling loss
    on the Boltzmann machine's graph with targets ``h_i`` has the gradient
    ``mean_i dE_h(h_i)/dθ - mean_s dE_h(h_s)/dθ``; ``EnergyLoss`` at the same
    targets gives the first part exactly, so their difference is the sampled
    model term. (PCD's pool of particles is shared and does not depend on the
    targets, so it is evaluated on the first target only.)

    Parameters
    ----------
    n_hidden : int
    negative : {"pcd", "cd"}
        ``PCDLoss(k, n_chains=particles, chains="pool")`` or ``CDLoss(k)``
        (one chain per target, started there).
    k : int
        Gibbs sweeps per step.
    particles : int
        Size of PCD's pool of fantasy particles.
    seed : int

    Examples
    --------
    With ``W = 0`` the units are independent, ``P(h_k = 1) = sigmoid(c_k)``, and
    ``dE_h/dc = -h``: the model term of ``c`` is ``-sigmoid(c)``.

    >>> p = Parameters(W=np.zeros((2, 3)), b=np.zeros(3), c=np.array([0.0, 2.0]))
    >>> term = ModelTerm(2, "pcd", k=1, particles=4000, seed=0)(np.zeros((1, 2), dtype=int), p)
    >>> bool(np.allclose(term["c"], -expit(p["c"]), atol=0.03))
    True
    """

    def __init__(self, n_hidden, negative, *, k, particles, seed):
        self.graph = hidden_boltzmann_graph(n_hidden)
        if negative == "pcd":
            self.loss = PCDLoss(k, n_chains=particles, chains="pool", seed=seed)
        else:
            self.loss = CDLoss(k, n_chains=1, seed=seed)
        self.energy = EnergyLoss()

    def __call__(self, h_data, params):
        targets = list(np.asarray(h_data, dtype=np.int64))
        if isinstance(self.loss, PCDLoss):
            # The pool's samples do not depend on the targets and the positive terms cancel: one target is
            # enough (the pool starts there; a batch of targets would repeat the pool's sensitivities per target).
            targets = targets[:1]
        sampled = self.loss(self.graph, targets, parameters=params).gradient
        at_data = self.energy(self.graph, targets, parameters=params).gradient
        out = {name: at_data[name] - sampled[name] for name in params}
        out["b"] = out["b"] - params["b"] / 2.0
        return out


def exact_model_term(params, graph=None):
    """``E_p[dE/dθ]`` exactly: ``EnergyLoss`` minus ``NLLLoss`` (enumerated) on the Boltzmann machine over h."""
    graph = hidden_boltzmann_graph(params["c"].size) if graph is None else graph
    target = [np.zeros(params["c"].size, dtype=np.int64)]
    at_target = EnergyLoss()(graph, target, parameters=params).gradient
    nll = NLLLoss(method="enumerate")(graph, target, parameters=params).gradient
    out = {name: at_target[name] - nll[name] for name in params}
    out["b"] = out["b"] - params["b"] / 2.0
    return out


def model_term_errors(x, params, loss, k, seed, particles=4000, steps=20):
    """Max error of the sampled model terms against :func:`exact_model_term`, at ``params``.

    ``"pcd"``: a fresh pool of ``particles`` after ``steps`` steps of ``k``
    sweeps (the chains have forgotten their start); ``"cd"``: CD-k chains
    started at the hidden states of the images ``x`` (biased towards the data
    for small ``k``: that is CD's bias). Also ``"scale"``: the largest entry of
    the exact term.
    """
    exact = exact_model_term(params)
    h = hidden_states(free_energy_loss(x, params, loss), seed, 0)
    pcd = ModelTerm(params["c"].size, "pcd", k=k, particles=particles, seed=seed)
    for _ in range(steps):
        pcd_term = pcd(h, params)
    cd_term = ModelTerm(params["c"].size, "cd", k=k, particles=1, seed=seed)(h, params)
    worst = {name: max(float(np.abs(term[p] - exact[p]).max()) for p in exact)
             for name, term in (("pcd", pcd_term), ("cd", cd_term))}
    worst["scale"] = max(float(np.abs(exact[p]).max()) for p in exact)
    return worst


def model_samples(params, n_chains, n_sweeps, seed):
    """(n_chains, K) states of h after ``n_sweeps`` Gibbs sweeps from random starts (the trained model's samples)."""
    compiled = compile_graph(hidden_boltzmann_graph(params["c"].size), parameters=params)
    states = np.ascontiguousarray(np.random.default_rng(seed).integers(0, 2, (n_chains, compiled.n_vars)),
                                  dtype=np.int32)
    run_chains(compiled, states, beta=1.0, n_sweeps=n_sweeps, seed=seed)
    return states.astype(np.float64)


# ---------------------------------------------------------------- training
def initial_parameters(x, n_hidden, rng):
    """Small random ``W``, ``c = 0`` and ``b = 2 mean(x)`` (the best independent model when W = 0)."""
    return Parameters(W=0.1 * rng.standard_normal((n_hidden, x.shape[1])), b=2.0 * x.mean(axis=0),
                      c=np.zeros(n_hidden))


def learning_rate(args, step, n_steps):
    """The SGD step at ``step`` of ``n_steps``: constant, or decaying linearly to 0 (Tieleman 2008)."""
    if args.lr_schedule == "linear":
        return args.learning_rate * (1.0 - step / n_steps)
    return args.learning_rate


def describe(args):
    """One line naming the negative phase and the learning-rate schedule, e.g. ``PCD-1 (100 particles), ...``."""
    what = f"PCD-{args.k} ({args.particles} particles)" if args.negative == "pcd" else f"CD-{args.k}"
    return f"{what}, learning rate {args.learning_rate:g} {args.lr_schedule}"


def train(x, test, params, args, rng, loss, log=print):
    """CD-k or PCD-k with the engine's gradients; returns the final parameters and per-epoch history."""
    opt = SGD(learning_rate=args.learning_rate, momentum=args.momentum)
    opt.reset(params)
    seeds = rng.integers(0, 2 ** 62, size=2)
    model_term = ModelTerm(params["c"].size, args.negative, k=args.k, particles=args.particles, seed=int(seeds[0]))
    steps_per_epoch = -(-len(x) // args.batch_size)
    n_steps, step = args.epochs * steps_per_epoch, 0
    history = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), args.batch_size):
            data = x[order[start:start + args.batch_size]]
            data_result = free_energy_loss(data, params, loss)
            negative = model_term(hidden_states(data_result, int(seeds[1]), step), params)
            opt.learning_rate = learning_rate(args, step, n_steps)
            params = Parameters(opt.step(params, {k: data_result.gradient[k] - negative[k] for k in params}))
            step += 1
        history.append(progress(x, test, params, rng, epoch + 1))
        log(f"epoch {epoch + 1:3d}: " + "  ".join(f"{k} {v:.4f}" for k, v in history[-1].items() if k != "epoch"))
    return params, history


def progress(x, test, params, rng, epoch):
    """Exact mean log-likelihood of training and held-out images (when K is small), reconstruction error
    and free-energy gap of the training images."""
    out = {"epoch": epoch}
    if params["c"].size <= MAX_EXACT_HIDDEN:
        log_z = log_partition(params)
        out["loglik"] = mean_log_likelihood(x, params, log_z)
        out["test_loglik"] = mean_log_likelihood(test, params, log_z)
    out["recon"] = reconstruction_error(x, params)
    out["gap"] = free_energy_gap(x, params, rng)
    return out


def load_images(n_train, n_test, scale, rng):
    """Digit images with pixels scaled to ``[0, scale]``, split at random into training and held-out images.

    ``n_train = 0`` trains on every image that is not held out.
    """
    from sklearn.datasets import load_digits

    x = load_digits().data / 16.0 * scale
    order = rng.permutation(len(x))
    test = x[order[:n_test]]
    train = x[order[n_test:]] if not n_train else x[order[n_test:n_test + n_train]]
    return train, test


# ---------------------------------------------------------------- main
def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=16, help="hidden units K (default 16)")
    parser.add_argument("--epochs", type=int, default=20, help="passes over the images (default 20)")
    parser.add_argument("--images", type=int, default=0,
                        help="train on this many images (default 0: all that are not held out)")
    parser.add_argument("--test-images", type=int, default=297, help="held-out images (default 297)")
    parser.add_argument("--scale", type=float, default=3.0, help="pixels are scaled to [0, scale] (default 3)")
    parser.add_argument("--negative", choices=NEGATIVES, default="pcd",
                        help="model term: pcd (PCDLoss, a pool of persistent fantasy particles) or cd (CDLoss, "
                             "chains started at the data) on the Boltzmann machine over h (default pcd)")
    parser.add_argument("--k", type=int, default=None,
                        help=f"Gibbs sweeps per step of PCD-k / CD-k (default {DEFAULTS['pcd']['k']} with pcd, "
                             f"{DEFAULTS['cd']['k']} with cd)")
    parser.add_argument("--particles", type=int, default=None,
                        help=f"PCD's fantasy particles (default {DEFAULTS['pcd']['particles']})")
    parser.add_argument("--lr-schedule", choices=("constant", "linear"), default=None,
                        help="learning rate: constant, or decaying linearly to 0 over the run "
                             "(default: linear with pcd, constant with cd)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help=f"SGD step (default {DEFAULTS['pcd']['learning_rate']:g} with pcd, "
                             f"{DEFAULTS['cd']['learning_rate']:g} with cd)")
    parser.add_argument("--momentum", type=float, default=0.5, help="SGD momentum (default 0.5)")
    parser.add_argument("--check-images", type=int, default=200, help="images for the engine checks (default 200)")
    parser.add_argument("--check-units", type=int, default=8,
                        help="hidden units of the enumerated factorization check (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, seconds (what the tests run): K=8, 300 images, 3 epochs")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}: filters, free-energy histograms, "
                             f"training curves, model samples) into DIR, created if missing (needs matplotlib)")
    return parser


def parse_args(argv):
    """Parse and validate the command line (bad values exit 2 through ``parser.error``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.images, args.test_images, args.epochs = 8, 300, 100, 3
        args.check_images, args.check_units = 50, 6
    for key, value in DEFAULTS[args.negative].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for name in ("hidden", "epochs", "k", "particles", "batch_size", "test_images", "check_images",
                 "check_units"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in ("scale", "learning_rate"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    if not 0 <= args.images <= 1797 - args.test_images:
        parser.error(f"--images must be in [0, {1797 - args.test_images}] (1797 digits minus --test-images), "
                     f"got {args.images}")
    if not 0.0 <= args.momentum < 1.0:
        parser.error(f"--momentum must be in [0, 1), got {args.momentum}")
    if args.check_units > min(args.hidden, 12):
        parser.error(f"--check-units must be <= min(--hidden, 12), got {args.check_units}")
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    return args


def main(argv=None):
    """Run the checks and the training; returns a dict of the numbers in the RESULT line."""
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x, test = load_images(args.images, args.test_images, args.scale, rng)
    loss = EnergyLoss(latent_beta=1.0)
    params = initial_parameters(x, args.hidden, rng)
    print(f"RBM: {len(x)} training and {len(test)} held-out digit images (D = {x.shape[1]}, pixels in "
          f"[0, {args.scale:g}]), K = {args.hidden} hidden units, {describe(args)}")
    start = progress(x, test, params, rng, 0)
    print("epoch   0: " + "  ".join(f"{k} {v:.4f}" for k, v in start.items() if k != "epoch"))
    params, history = train(x, test, params, args, rng, loss)
    history.insert(0, start)
    checks = rng.choice(len(x), min(args.check_images, len(x)), replace=False)
    engine = check_engine(x[checks], params, loss)
    out = {
        "max_free_energy_error": engine["free_energy_error"],
        "max_marginal_error": engine["marginal_error"],
        "factorization_error": max(factorization_error(x[i], params, args.check_units) for i in checks[:3]),
        "gradient_error": engine["gradient_error"],
    }
    if args.hidden <= MAX_EXACT_HIDDEN:
        out["log_partition_error"] = abs(log_partition(params) - log_partition_enumerated(params))
        errors = model_term_errors(x, params, loss, args.k, int(rng.integers(0, 2 ** 62)))
        out["model_term_error_pcd"], out["model_term_error_cd"] = errors["pcd"], errors["cd"]
        out["loglik_initial"], out["loglik_final"] = history[0]["loglik"], history[-1]["loglik"]
        out["test_loglik_initial"], out["test_loglik_final"] = history[0]["test_loglik"], history[-1]["test_loglik"]
    labels = {
        "max_free_energy_error": "max |F_engine(x) - F_closed(x)|",
        "max_marginal_error": "max |P_engine(h_k = 1 | x) - sigmoid(-a_k(x))|",
        "factorization_error": f"max_h |P(h | x) - prod_k P(h_k | x)| (K = {args.check_units}, enumerated)",
        "gradient_error": "max |dF/dθ engine - closed form| (θ = W, b, c)",
        "log_partition_error": "|log Z engine (Boltzmann machine over h) - numpy (Gaussian integral)|",
        "model_term_error_pcd": f"max |E_p[dE/dθ]: PCD-{args.k} pool (4000 particles, 20 steps) - exact|",
        "model_term_error_cd": f"max |E_p[dE/dθ]: CD-{args.k} from the {len(x)} training images - exact|",
    }
    print(f"engine ({engine['method']}) vs closed forms on {len(checks)} images, trained model:")
    for key, label in labels.items():
        if key in out:
            print(f"  {label:70s} {out[key]:.3e}")
    if "model_term_error_pcd" in out:
        print(f"  (largest entry of the exact model term: {errors['scale']:.3g})")
    out.update(recon_initial=history[0]["recon"], recon_final=history[-1]["recon"],
               free_energy_gap_initial=history[0]["gap"], free_energy_gap_final=history[-1]["gap"])
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        plot(args.plot / FIGURES[0], x, params, history, rng)
        print(f"plot saved to {args.plot / FIGURES[0]}")
    print("RESULT " + " ".join(f"{k}={v:.6g}" for k, v in out.items()))
    return out


def filter_mosaic(w, side=8, pad=1):
    """The rows of ``w`` as ``side x side`` tiles in one array (NaN between tiles)."""
    k = len(w)
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    mosaic = np.full((rows * (side + pad) - pad, cols * (side + pad) - pad), np.nan)
    for i, row in enumerate(w):
        r, c = divmod(i, cols)
        mosaic[r * (side + pad):r * (side + pad) + side, c * (side + pad):c * (side + pad) + side] = \
            row.reshape(side, side)
    return mosaic


def plot(path, x, params, history, rng):
    """Learned filters (rows of W), free-energy histograms of digits vs pixel-shuffled digits, training curves,
    and samples of the trained model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), gridspec_kw={"width_ratios": [1.0, 1.3, 1.3, 1.0]})
    lim = np.abs(params["W"]).max()
    axes[0].imshow(filter_mosaic(-params["W"]), cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[0].set_title("filters -W_k (red: an on pixel turns h_k on)", fontsize=9)
    axes[0].set_xticks([]), axes[0].set_yticks([])
    f_data = closed_form_free_energy(x, params)
    f_shuf = closed_form_free_energy(shuffle_pixels(x, rng), params)
    bins = np.linspace(min(f_data.min(), f_shuf.min()), max(f_data.max(), f_shuf.max()), 40)
    axes[1].hist(f_data, bins, alpha=0.6, label="digits")
    axes[1].hist(f_shuf, bins, alpha=0.6, label="pixel-shuffled digits")
    axes[1].set_xlabel("free energy F(x), trained model"), axes[1].set_ylabel("images")
    axes[1].legend(fontsize=8)
    epochs = [h["epoch"] for h in history]
    if "loglik" in history[0]:
        axes[2].plot(epochs, [h["loglik"] for h in history], "o-", label="training images")
        axes[2].plot(epochs, [h["test_loglik"] for h in history], "s--", label="held-out images")
        axes[2].set_ylabel("exact mean log-likelihood (nats)")
    else:
        axes[2].plot(epochs, [h["gap"] for h in history], "o-", label="free-energy gap")
        axes[2].set_ylabel("mean F(shuffled) - mean F(digits)")
    axes[2].set_xlabel("epoch"), axes[2].legend(fontsize=8)
    h = model_samples(params, 16, 500, int(rng.integers(0, 2 ** 62)))
    mean_x = (params["b"] - h @ params["W"]) / 2.0                  # E[x | h] of each sampled h
    axes[3].imshow(filter_mosaic(mean_x), cmap="gray_r")
    axes[3].set_title("model samples: E[x | h], h after 500 Gibbs sweeps", fontsize=9)
    axes[3].set_xticks([]), axes[3].set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
