"""A Gaussian-Bernoulli RBM as a factor graph: P(h | x) factorizes, F(x) in closed form, CD-k on the digits.

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

Gibbs sampling alternates ``h ~ P(h | x)`` (independent Bernoullis) and
``x ~ p(x | h)`` (independent Gaussians).

Learning. ``-log p(x) = F(x) + log Z`` with ``Z = sum_h int exp(-E) dx``, so the
gradient of the mean negative log-likelihood is the data term minus the model
term,

    d/dθ mean_i[-log p(x_i)] = mean_i dF(x_i)/dθ - E_{x ~ p}[dF(x)/dθ].

``dF(x)/dθ`` is the gradient of the energy loss with the hidden units summed
out at beta = 1 (``EnergyLoss(latent_beta=1.0)``): the engine computes it from
the marginals and the energies' ``backward``. The model term is estimated by
contrastive divergence (CD-k): start Gibbs chains at the data, run k steps,
and take the same gradient on the samples.

Exact log-likelihood. Integrating x out of ``Z`` gives
``Z = pi^(D/2) sum_h exp(c.h + |b - W^T h|^2 / 4)
= pi^(D/2) exp(|b|^2 / 4) sum_h exp(-E_h(h))``, where ``E_h`` is a fully connected
Boltzmann machine over h, with unary energies ``-c_k + (W b)_k / 2 - G_kk / 4``
on ``h_k = 1`` and pairwise energies ``-G_kl / 2`` on ``h_k = h_l = 1``
(``G = W W^T``). The engine gives its exact log partition by enumerating the
``2**K`` states of that factor graph (checked against numpy's evaluation of
the first expression for Z), so the script reports
the exact mean log-likelihood ``mean(-F(x)) - log Z`` of the training images
and of held-out images, before and after training. Two cheaper progress
measures are printed as well: the one-step reconstruction error and the
free-energy gap between pixel-shuffled images (each pixel shuffled across the
images: the same pixel histograms, no correlations) and the real ones. That
gap is exactly 0 when ``W = 0``, so it measures what the hidden units learned.

Run ``python examples/rbm_free_energy.py`` (about a minute) or ``--quick`` (seconds);
``--plot DIR`` writes ``rbm_digits.png`` (filters, free-energy histograms, the
log-likelihood per epoch) into DIR (needs matplotlib).
"""

import argparse
import importlib.util
import itertools
import pathlib

import numpy as np
from scipy.special import expit, logsumexp

from factorgraph_ebm import Energy, FactorGraph, Parameters, compile_graph, free_energy, infer
from factorgraph_ebm.losses import EnergyLoss
from factorgraph_ebm.train import SGD

#: Largest number of hidden units for which log Z is computed exactly (2**K hidden states).
MAX_EXACT_HIDDEN = 18
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


# ---------------------------------------------------------------- log Z
def hidden_boltzmann_graph(params):
    """The Boltzmann machine over h left after integrating x out of Z (see the module docstring)."""
    w, b, c = params["W"], params["b"], params["c"]
    k = len(c)
    gram = w @ w.T
    fg = FactorGraph()
    h = fg.add_variables("h", shape=k, states=2)
    unary = np.zeros((k, 2))
    unary[:, 1] = -c + (w @ b) / 2.0 - np.diag(gram) / 4.0
    fg.add_factor_group(h.ids[:, None], unary, name="unary")
    pairs = np.array(list(itertools.combinations(range(k), 2)), dtype=np.int64).reshape(-1, 2)
    if len(pairs):
        tables = np.zeros((len(pairs), 2, 2))
        tables[:, 1, 1] = -gram[pairs[:, 0], pairs[:, 1]] / 2.0
        fg.add_factor_group(h.ids[pairs], tables, name="pair")
    return fg


def log_partition(params):
    """Exact ``log Z`` of the RBM: the engine's enumeration of the hidden Boltzmann machine, plus the Gaussian integral.

    (The junction tree of a fully connected graph is one clique of all K units,
    but its projection tables grow like ``2**K x 2**(K-1)``, so enumerating
    the ``2**K`` states is the cheaper exact method here.)
    """
    d = params["b"].size
    log_zh = infer(hidden_boltzmann_graph(params), method="enumerate").log_partition
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


# ---------------------------------------------------------------- Gibbs sampling
def sample_hidden(x, params, rng):
    """``h ~ P(h | x)``: independent Bernoullis with ``P(h_k = 1) = sigmoid(-a_k(x))``."""
    return (rng.random((len(x), params["c"].size)) < closed_form_marginals(x, params)).astype(np.float64)


def sample_visible(h, params, rng):
    """``x ~ p(x | h) = Normal((b - W^T h) / 2, I / 2)``."""
    mean = (params["b"] - h @ params["W"]) / 2.0
    return mean + np.sqrt(0.5) * rng.standard_normal(mean.shape)


def gibbs_chain(x, params, k, rng):
    """``k`` steps of block Gibbs sampling started at ``x`` (CD-k's negative samples)."""
    for _ in range(k):
        x = sample_visible(sample_hidden(x, params, rng), params, rng)
    return x


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
def free_energy_gradient(x, params, loss):
    """``mean_i dF(x_i)/dθ`` by the engine: the energy loss with the hidden units summed out at beta = 1."""
    graphs = [rbm_graph(row, params["c"].size) for row in x]
    return loss(graphs, [0] * len(graphs), parameters=params).gradient


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


# ---------------------------------------------------------------- training
def initial_parameters(x, n_hidden, rng):
    """Small random ``W``, ``c = 0`` and ``b = 2 mean(x)`` (the best independent model when W = 0)."""
    return Parameters(W=0.1 * rng.standard_normal((n_hidden, x.shape[1])), b=2.0 * x.mean(axis=0),
                      c=np.zeros(n_hidden))


def train(x, test, params, args, rng, loss, log=print):
    """CD-k with the engine's free-energy gradients; returns the final parameters and per-epoch history."""
    opt = SGD(learning_rate=args.learning_rate, momentum=args.momentum)
    opt.reset(params)
    history = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), args.batch_size):
            data = x[order[start:start + args.batch_size]]
            model = gibbs_chain(data, params, args.cd_k, rng)
            data_term = free_energy_gradient(data, params, loss)
            model_term = free_energy_gradient(model, params, loss)
            params = Parameters(opt.step(params, {k: data_term[k] - model_term[k] for k in params}))
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
    parser.add_argument("--cd-k", type=int, default=1, help="Gibbs steps of CD-k (default 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    parser.add_argument("--learning-rate", type=float, default=0.05, help="SGD step (default 0.05)")
    parser.add_argument("--momentum", type=float, default=0.5, help="SGD momentum (default 0.5)")
    parser.add_argument("--check-images", type=int, default=200, help="images for the engine checks (default 200)")
    parser.add_argument("--check-units", type=int, default=8,
                        help="hidden units of the enumerated factorization check (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, seconds (what the tests run): K=8, 300 images, 3 epochs")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}: filters, free-energy histograms, "
                             f"training curves) into DIR, created if missing (needs matplotlib)")
    return parser


def parse_args(argv):
    """Parse and validate the command line (bad values exit 2 through ``parser.error``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.images, args.test_images, args.epochs = 8, 300, 100, 3
        args.check_images, args.check_units = 50, 6
    for name in ("hidden", "epochs", "cd_k", "batch_size", "test_images", "check_images", "check_units"):
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
          f"[0, {args.scale:g}]), K = {args.hidden} hidden units, CD-{args.cd_k}")
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
        out["loglik_initial"], out["loglik_final"] = history[0]["loglik"], history[-1]["loglik"]
        out["test_loglik_initial"], out["test_loglik_final"] = history[0]["test_loglik"], history[-1]["test_loglik"]
    labels = {
        "max_free_energy_error": "max |F_engine(x) - F_closed(x)|",
        "max_marginal_error": "max |P_engine(h_k = 1 | x) - sigmoid(-a_k(x))|",
        "factorization_error": f"max_h |P(h | x) - prod_k P(h_k | x)| (K = {args.check_units}, enumerated)",
        "gradient_error": "max |dF/dθ engine - closed form| (θ = W, b, c)",
        "log_partition_error": "|log Z engine (Boltzmann machine over h) - numpy (Gaussian integral)|",
    }
    print(f"engine ({engine['method']}) vs closed forms on {len(checks)} images, trained model:")
    for key, label in labels.items():
        if key in out:
            print(f"  {label:70s} {out[key]:.3e}")
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
    """Learned filters (rows of W), free-energy histograms of digits vs pixel-shuffled digits, training curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.0, 1.3, 1.3]})
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
