"""The tutorial's linear machines as one-factor EBMs, each next to the scikit-learn estimator it should match.

LeCun et al., "A Tutorial on Energy-Based Learning" (2006), section 2 and 6:
a linear machine is an energy that is linear in the input's score
``s(x) = w.x + b``, and the loss decides which classical method it is.

================  ============================  ====================  ================================
machine           energy                        loss                  scikit-learn
================  ============================  ====================  ================================
regression        ``E(y) = 1/2 (y - s(x))^2``   energy (``E(y_i)``)    ``LinearRegression``
perceptron        ``E(y) = -y s(x)``            perceptron            ``Perceptron``
logistic reg.     ``E(y) = -y s(x)``            NLL + L2              ``LogisticRegression(C)``
linear SVM        ``E(y) = -y s(x)``            hinge (m = 1) + L2    ``LinearSVC(loss="hinge", C)``
================  ============================  ====================  ================================

The classifiers have one binary output ``y`` in {0, 1} with
``E(0) = 0, E(1) = -s(x)``: ``P(y = 1 | x) = sigmoid(s(x))`` at beta = 1, the
perceptron loss is ``max(0, -y' s(x))`` and the hinge loss
``max(0, 1 - y' s(x))`` with ``y' = 2 y - 1``, exactly scikit-learn's losses.
The regression target y is a real number, so the regression graph has a single
*one-state* output variable whose energy ``1/2 (y - w.x - b)^2`` is a custom
:class:`~factorgraph_ebm.Energy` with the target baked in (its ``table`` and
``backward``); the energy loss of that graph is the squared error, with no
contrastive term, and nothing can collapse because the target is fixed.

Objectives. The trainer minimises the mean loss plus ``l2/2 ||w||^2``;
scikit-learn minimises ``C sum loss + 1/2 ||w||^2``. They are the same problem
when ``l2 = 1 / (C n)``. ``LogisticRegression`` does not penalise the
intercept (so ``b`` gets ``l2 = 0`` here) and ``LinearSVC`` does (it appends a
constant feature, so ``b`` gets the same ``l2`` as ``w``).

Data: ``load_diabetes`` (442 patients, 10 features, disease progression) for
regression, ``load_breast_cancer`` (569 tumours, 30 features, benign or
malignant; 70/30 stratified split, standardized on the training part) for
classification. Run ``python examples/linear_machines.py`` (``--quick`` for a
shorter perceptron run, seconds); ``--plot DIR`` writes ``linear_machines.png``
(each L-BFGS fit's objective per iteration against scikit-learn's optimum, and
the perceptron's accuracy per epoch) into DIR (needs matplotlib).
"""

import argparse
import importlib.util
import pathlib

import numpy as np

from factorgraph_ebm import Energy, FactorGraph, LinearEnergy, Trainer
from factorgraph_ebm.losses import EnergyLoss, HingeLoss
from factorgraph_ebm.train import LBFGS, SGD

#: The intercept's features: ``E(y) = -b [y = 1]``. One energy object shared by every example.
BIAS = LinearEnergy("b", features=[[0.0], [1.0]])
#: The PNG file ``--plot DIR`` writes.
FIGURES = ("linear_machines.png",)


class TracedLBFGS(LBFGS):
    """L-BFGS that also records the objective after every iteration in ``trace`` (the steps are unchanged).

    Examples
    --------
    >>> opt = TracedLBFGS(max_iter=50)
    >>> res = opt.minimize(lambda t: (float((t - 3.0) @ (t - 3.0)), 2.0 * (t - 3.0)), np.zeros(2))
    >>> len(opt.trace) == res.nit, opt.trace[-1] < 1e-12
    (True, True)
    """

    def __init__(self, max_iter=200, tol=1e-10, memory=10):
        super().__init__(max_iter=max_iter, tol=tol, memory=memory)
        self.trace = []

    def minimize(self, fun, theta, callback=None):
        def record(intermediate_result):        # scipy passes the iterate and its objective under this name
            self.trace.append(float(intermediate_result.fun))
            if callback is not None:
                callback(intermediate_result.x)

        return super().minimize(fun, theta, callback=record)


class SquaredError(Energy):
    """``E = 1/2 (y - w.x - b)^2`` on a one-state variable: the target ``y`` and input ``x`` baked in.

    Examples
    --------
    >>> e = SquaredError([1.0, 2.0], 3.0)
    >>> e.table({"w": [0.5, 0.5], "b": [0.0]})          # 1/2 (3 - 1.5)^2
    array([1.125])
    >>> e.backward(np.array([1.0]), {"w": [0.5, 0.5], "b": [0.0]})["w"]
    array([-1.5, -3. ])
    """

    parameter_names = ("w", "b")

    def __init__(self, x, y):
        self.x = np.asarray(x, dtype=np.float64)
        self.y = float(y)

    def residual(self, parameters):
        return self.y - self.x @ np.asarray(parameters["w"]) - float(np.asarray(parameters["b"])[0])

    def table(self, parameters=None):
        return np.array([0.5 * self.residual(parameters) ** 2])

    def backward(self, sensitivity, parameters=None):
        grad = -float(np.sum(sensitivity)) * self.residual(parameters)   # dE/d(w.x + b) = -r
        return {"w": grad * self.x, "b": np.array([grad])}


def regression_graph(x, y):
    """One example of linear regression: a one-state output with :class:`SquaredError`."""
    fg = FactorGraph()
    fg.add_variable("y", 1)
    fg.add_factor(["y"], SquaredError(x, y), name="squared_error")
    return fg


def classifier_graph(x):
    """One example of a linear binary classifier: ``E(y) = -y (w.x + b)``, ``y`` in {0, 1}.

    Examples
    --------
    >>> from factorgraph_ebm import infer
    >>> fg = classifier_graph([1.0, -1.0])
    >>> p = infer(fg, parameters={"w": np.array([2.0, 0.0]), "b": np.array([-1.0])}).marginal("y")
    >>> bool(np.isclose(p[1], 1 / (1 + np.exp(-1.0))))                  # sigmoid(w.x + b)
    True
    """
    fg = FactorGraph()
    fg.add_variable("y", 2)
    features = np.zeros((2, len(x)))
    features[1] = x
    fg.add_factor(["y"], LinearEnergy("w", features=features), name="score")
    fg.add_factor(["y"], BIAS, name="bias")
    return fg


def zeros(n_features):
    return {"w": np.zeros(n_features), "b": np.zeros(1)}


def scores(params, x):
    """``s(x) = w.x + b`` for the rows of ``x``."""
    return x @ params["w"] + params["b"][0]


def accuracy(params, x, y):
    return float(np.mean((scores(params, x) > 0).astype(int) == y))


def relative_difference(ours, theirs):
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


def svm_objective(params, x, y, l2):
    """Mean hinge loss ``max(0, 1 - y' s(x))`` plus ``l2/2 (||w||^2 + b^2)`` (LinearSVC's, divided by C n)."""
    margin = (2 * y - 1) * scores(params, x)
    return float(np.mean(np.maximum(0.0, 1.0 - margin)) + l2 / 2 * (params["w"] @ params["w"] + params["b"][0] ** 2))


def logistic_objective(params, x, y, l2):
    """Mean logistic loss ``log(1 + exp(-y' s(x)))`` plus ``l2/2 ||w||^2`` (``b`` not penalised), the NLL fit's."""
    margin = (2 * y - 1) * scores(params, x)
    return float(np.mean(np.logaddexp(0.0, -margin)) + l2 / 2 * (params["w"] @ params["w"]))


# ---------------------------------------------------------------- the four machines
def fit_regression(x, y, tol):
    """Energy loss on :class:`SquaredError`, L-BFGS; vs ``LinearRegression``."""
    from sklearn.linear_model import LinearRegression

    optimizer = TracedLBFGS(max_iter=500, tol=tol)
    trainer = Trainer(EnergyLoss(), optimizer, batch_size=None, max_epochs=3, progress=False)
    trainer.fit([regression_graph(row, t) for row, t in zip(x, y)], [0] * len(y), parameters=zeros(x.shape[1]))
    sk = LinearRegression().fit(x, y)
    ours, theirs = trainer.parameters_, {"w": sk.coef_, "b": np.array([sk.intercept_])}
    coef = np.append(ours["w"], ours["b"]), np.append(sk.coef_, sk.intercept_)
    mse = [float(np.mean((y - scores(p, x)) ** 2)) for p in (ours, theirs)]
    return {"metric": "train MSE", "ours": mse[0], "sklearn": mse[1],
            "coef_rel_diff": relative_difference(*coef), "stop": trainer.stop_reason_,
            "trace": trainer.optimizer_.trace, "objective_sklearn": mse[1] / 2}       # the mean energy 1/2 r^2


def fit_perceptron(data, epochs, seed):
    """Perceptron loss with SGD (step 1, one example per step); vs ``Perceptron``.

    Both make the classical update ``w += y' x`` on a mistake, but visit the
    examples in different orders and stop under different rules, so only the
    accuracies are comparable (and the weights' scale is arbitrary).
    """
    from sklearn.linear_model import Perceptron

    xtr, xte, ytr, yte = data
    curve = []

    def record(trainer, info):   # after every epoch: the accuracies of the current weights (never stops training)
        curve.append((info["epoch"], accuracy(trainer.parameters_, xtr, ytr), accuracy(trainer.parameters_, xte, yte)))

    trainer = Trainer("perceptron", SGD(learning_rate=1.0), batch_size=1, max_epochs=epochs, random_state=seed,
                      progress=False, callbacks=[record])
    trainer.fit([classifier_graph(row) for row in xtr], ytr, parameters=zeros(xtr.shape[1]))
    sk = Perceptron(max_iter=epochs, tol=None, random_state=seed).fit(xtr, ytr)
    theirs = {"w": sk.coef_[0], "b": sk.intercept_}
    return {"metric": "test accuracy", "ours": accuracy(trainer.parameters_, xte, yte),
            "sklearn": accuracy(theirs, xte, yte), "train_ours": accuracy(trainer.parameters_, xtr, ytr),
            "train_sklearn": accuracy(theirs, xtr, ytr), "curve": curve}


def fit_logistic(data, c, tol):
    """NLL at beta = 1 with L2 on w (not b), L-BFGS; vs ``LogisticRegression(C)``."""
    from sklearn.linear_model import LogisticRegression

    xtr, xte, ytr, yte = data
    l2 = 1.0 / (c * len(ytr))
    optimizer = TracedLBFGS(max_iter=500, tol=tol)
    trainer = Trainer("nll", optimizer, l2={"w": l2, "b": 0.0}, batch_size=None, max_epochs=3, progress=False)
    trainer.fit([classifier_graph(row) for row in xtr], ytr, parameters=zeros(xtr.shape[1]))
    sk = LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(xtr, ytr)
    ours, theirs = trainer.parameters_, {"w": sk.coef_[0], "b": sk.intercept_}
    return {"metric": "test accuracy", "ours": accuracy(ours, xte, yte), "sklearn": accuracy(theirs, xte, yte),
            "coef_rel_diff": relative_difference(np.append(ours["w"], ours["b"]), np.append(sk.coef_, sk.intercept_)),
            "stop": trainer.stop_reason_, "trace": trainer.optimizer_.trace,
            "objective_sklearn": logistic_objective(theirs, xtr, ytr, l2)}


def fit_svm(data, c, max_iter):
    """Hinge (margin 1) with L2 on w and b, L-BFGS; vs ``LinearSVC(loss="hinge", C)``."""
    from sklearn.svm import LinearSVC

    xtr, xte, ytr, yte = data
    l2 = 1.0 / (c * len(ytr))
    optimizer = TracedLBFGS(max_iter=max_iter)
    trainer = Trainer(HingeLoss(margin=1.0), optimizer, l2=l2, batch_size=None, max_epochs=1, progress=False)
    trainer.fit([classifier_graph(row) for row in xtr], ytr, parameters=zeros(xtr.shape[1]))
    sk = LinearSVC(C=c, loss="hinge", tol=1e-10, max_iter=200_000).fit(xtr, ytr)
    ours, theirs = trainer.parameters_, {"w": sk.coef_[0], "b": sk.intercept_}
    objective = svm_objective(ours, xtr, ytr, l2), svm_objective(theirs, xtr, ytr, l2)
    return {"metric": "test accuracy", "ours": accuracy(ours, xte, yte), "sklearn": accuracy(theirs, xte, yte),
            "train_ours": accuracy(ours, xtr, ytr), "train_sklearn": accuracy(theirs, xtr, ytr),
            "objective_ours": objective[0], "objective_sklearn": objective[1],
            "objective_rel_diff": (objective[0] - objective[1]) / objective[1],
            "coef_rel_diff": relative_difference(np.append(ours["w"], ours["b"]), np.append(sk.coef_, sk.intercept_)),
            "trace": trainer.optimizer_.trace}


# ---------------------------------------------------------------- data
def load_regression():
    """``load_diabetes`` with standardized features (the target in its own units)."""
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import StandardScaler

    x, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(x), y


def load_classification(seed):
    """``load_breast_cancer``: 70/30 stratified split, standardized on the training part."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    scale = StandardScaler().fit(xtr)
    return scale.transform(xtr), scale.transform(xte), ytr, yte


# ---------------------------------------------------------------- main
def build_parser():
    """The command-line options (see the module docstring and ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--C", type=float, default=1.0, dest="c",
                        help="inverse regularization of the logistic regression and the SVM (default 1)")
    parser.add_argument("--perceptron-epochs", type=int, default=20, help="perceptron passes (default 20)")
    parser.add_argument("--svm-iter", type=int, default=300, help="L-BFGS iterations on the hinge (default 300)")
    parser.add_argument("--tol", type=float, default=1e-14, help="L-BFGS tolerance of the smooth fits (default 1e-14)")
    parser.add_argument("--regression-samples", type=int, default=0,
                        help="fit the regression on the first N patients (default 0: all 442)")
    parser.add_argument("--seed", type=int, default=0, help="split and shuffle seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, seconds (what the tests run): regression on 150 patients, "
                             "1 perceptron epoch, 60 SVM iterations")
    parser.add_argument("--plot", metavar="DIR", type=pathlib.Path, default=None,
                        help=f"write the PNG figure ({', '.join(FIGURES)}: objective per L-BFGS iteration, "
                             f"perceptron accuracy per epoch) into DIR, created if missing (needs matplotlib)")
    return parser


def parse_args(argv):
    """Parse and validate the command line (bad values exit 2 through ``parser.error``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.regression_samples, args.perceptron_epochs, args.svm_iter = 150, 1, 60
    if not args.c > 0:
        parser.error(f"--C must be > 0, got {args.c}")
    if not args.tol > 0:
        parser.error(f"--tol must be > 0, got {args.tol}")
    if args.regression_samples < 0 or args.regression_samples == 1:
        parser.error(f"--regression-samples must be 0 (all) or >= 2, got {args.regression_samples}")
    for name in ("perceptron_epochs", "svm_iter"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.plot is not None:
        if args.plot.exists() and not args.plot.is_dir():
            parser.error(f"--plot must be a directory, got the file {args.plot}")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib (pip install -e \".[examples]\")")
    return args


def main(argv=None):
    """Fit the four machines and their scikit-learn twins; returns a dict of the RESULT numbers."""
    args = parse_args(argv)
    data = load_classification(args.seed)
    x, y = load_regression()
    if args.regression_samples:
        x, y = x[:args.regression_samples], y[:args.regression_samples]
    rows = {
        ("linear regression", "energy", "LinearRegression"): fit_regression(x, y, args.tol),
        ("perceptron", "perceptron", "Perceptron"): fit_perceptron(data, args.perceptron_epochs, args.seed),
        ("logistic regression", "NLL + L2", f"LogisticRegression(C={args.c:g})"): fit_logistic(data, args.c, args.tol),
        ("linear SVM", "hinge + L2", f"LinearSVC(hinge, C={args.c:g})"): fit_svm(data, args.c, args.svm_iter),
    }
    print(f"{'machine':20s} {'loss':11s} {'scikit-learn':26s} {'metric':14s} {'ours':>10s} {'sklearn':>10s} "
          f"{'difference':>11s} {'coef rel diff':>14s}")
    for (machine, loss, estimator), r in rows.items():
        coef = f"{r['coef_rel_diff']:14.2e}" if "coef_rel_diff" in r else f"{'-':>14s}"
        print(f"{machine:20s} {loss:11s} {estimator:26s} {r['metric']:14s} {r['ours']:10.4f} {r['sklearn']:10.4f} "
              f"{r['ours'] - r['sklearn']:11.2e} {coef}")
    reg, per, log, svm = rows.values()
    print(f"SVM objective (mean hinge + l2/2 |w|^2): ours {svm['objective_ours']:.8f}, "
          f"LinearSVC {svm['objective_sklearn']:.8f} (relative difference {svm['objective_rel_diff']:.2e})")
    print(f"training accuracy: perceptron ours {per['train_ours']:.4f} vs {per['train_sklearn']:.4f}; "
          f"SVM ours {svm['train_ours']:.4f} vs {svm['train_sklearn']:.4f}")
    out = {
        "regression_coef_rel_diff": reg["coef_rel_diff"], "regression_mse_diff": reg["ours"] - reg["sklearn"],
        "logistic_coef_rel_diff": log["coef_rel_diff"], "logistic_accuracy_diff": log["ours"] - log["sklearn"],
        "svm_objective_rel_diff": svm["objective_rel_diff"], "svm_coef_rel_diff": svm["coef_rel_diff"],
        "svm_accuracy_diff": svm["ours"] - svm["sklearn"],
        "perceptron_accuracy": per["ours"], "perceptron_accuracy_sklearn": per["sklearn"],
        "perceptron_accuracy_diff": per["ours"] - per["sklearn"],
    }
    if args.plot is not None:
        args.plot.mkdir(parents=True, exist_ok=True)
        plot(args.plot / FIGURES[0], reg, log, svm, per, args)
        print(f"figure written to {args.plot / FIGURES[0]}")
    print("RESULT " + " ".join(f"{k}={v:.6g}" for k, v in out.items()))
    return out


def plot(path, reg, log, svm, per, args):
    """Save a PNG: each L-BFGS fit's objective gap to scikit-learn's optimum per iteration; perceptron accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax, acc) = plt.subplots(1, 2, figsize=(12, 4.4), gridspec_kw={"width_ratios": [1.3, 1.0]})
    fits = (("linear regression (energy loss)", reg, "o-"), ("logistic regression (NLL + L2)", log, "s-"),
            ("linear SVM (hinge + L2)", svm, "^-"))
    floor = 1e-16
    for label, fit, style in fits:
        gap = np.abs(np.asarray(fit["trace"]) - fit["objective_sklearn"]) / abs(fit["objective_sklearn"])
        ax.plot(np.arange(1, gap.size + 1), np.maximum(gap, floor), style, ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.set_xlabel("L-BFGS iteration (all epochs)")
    ax.set_ylabel("|objective - scikit-learn's| / scikit-learn's")
    ax.set_title(f"Objective per iteration against scikit-learn's optimum (C = {args.c:g})", fontsize=10)
    ax.legend(fontsize=8)
    epochs, train, test = np.array(per["curve"]).T
    acc.plot(epochs, train, "o-", label="ours, training part")
    acc.plot(epochs, test, "s-", label="ours, test part")
    acc.axhline(per["sklearn"], color="grey", ls="--", label=f"scikit-learn Perceptron, test ({per['sklearn']:.3f})")
    acc.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    acc.set_xlabel("epoch (SGD, one example per step)")
    acc.set_ylabel("accuracy")
    acc.set_title("Perceptron loss: accuracy after each epoch", fontsize=10)
    acc.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
