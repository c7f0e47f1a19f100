"""Small parameterized models and data sets shared by the loss and trainer tests."""

import numpy as np

from factorgraph_ebm import Energy, FactorGraph, LinearEnergy, Parameters


class QuadraticCoupling(Energy):
    """A custom, non-linear energy: ``J[0]**2 * [a != b] + J[1] * D[a, b]``."""

    def __init__(self, parameter, d):
        self.parameter_names = (parameter,)
        self.d = np.asarray(d, dtype=np.float64)
        self.off = 1.0 - np.eye(self.d.shape[0])

    def table(self, parameters=None):
        j = np.asarray(parameters[self.parameter_names[0]])
        return j[0] ** 2 * self.off + j[1] * self.d

    def backward(self, sensitivity, parameters=None):
        j = np.asarray(parameters[self.parameter_names[0]])
        return {self.parameter_names[0]: np.array([2 * j[0] * np.sum(sensitivity * self.off),
                                                   np.sum(sensitivity * self.d)])}


def chain_graph(rng, length=4, states=3, n_features=2, custom=False):
    """A chain: unary ``-x_t . U[:, y_t]`` and one shared transition (LinearEnergy or custom)."""
    fg = FactorGraph()
    y = fg.add_variables("y", shape=length, states=states)
    fg.add_factor_group(y.ids[:, None], LinearEnergy("U", features=rng.normal(size=(length, n_features))),
                        name="unary")
    pair = QuadraticCoupling("J", np.arange(states * states).reshape(states, states) % 3 - 1.0) if custom \
        else LinearEnergy("T")
    fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), pair, name="transition")
    return fg


def chain_parameters(rng, states=3, n_features=2, custom=False):
    p = Parameters(U=rng.normal(size=(n_features, states)))
    if custom:
        p["J"] = rng.normal(size=2)
    else:
        p["T"] = rng.normal(size=(states, states))
    return p


def loopy_graph(rng, states=2, n_features=2, custom=False):
    """A 4-cycle of outputs with a shared pairwise energy and a fixed 3-ary factor."""
    fg = FactorGraph()
    y = fg.add_variables("y", shape=4, states=states)
    fg.add_factor_group(y.ids[:, None], LinearEnergy("U", features=rng.normal(size=(4, n_features))),
                        name="unary")
    ring = np.stack([y.ids, np.roll(y.ids, -1)], 1)
    pair = QuadraticCoupling("J", rng.normal(size=(states, states))) if custom else LinearEnergy("T")
    fg.add_factor_group(ring, pair, name="ring")
    fg.add_factor([y[0], y[1], y[2]], rng.normal(size=(states,) * 3), name="triple")
    return fg


def latent_graph(rng, n_features=2, loopy=False):
    """Output y (3 states) explained by latent z (3 variables, 2 states) with features on z."""
    fg = FactorGraph()
    fg.add_variable("y", 3)
    z = fg.add_variables("z", shape=3, states=2, role="latent")
    fg.add_factor(["y"], LinearEnergy("B", features=np.eye(3)), name="prior")
    fg.add_factor_group(np.stack([np.zeros(3, dtype=np.int64), z.ids], 1), LinearEnergy("A"), name="yz")
    fg.add_factor_group(z.ids[:, None], LinearEnergy("Z", features=rng.normal(size=(3, n_features))), name="zx")
    if loopy:
        fg.add_factor_group(np.stack([z.ids[:-1], z.ids[1:]], 1), LinearEnergy("C"), name="zz")
    return fg


def latent_parameters(rng, n_features=2, loopy=False):
    p = Parameters(B=rng.normal(size=3), A=rng.normal(size=(3, 2)), Z=rng.normal(size=(n_features, 2)))
    if loopy:
        p["C"] = rng.normal(size=(2, 2))
    return p


def binary_classifier(x):
    """One example of a linear binary classifier: ``E(y) = -y (w . x)`` (a single factor)."""
    fg = FactorGraph()
    fg.add_variable("y", 2)
    feats = np.zeros((2, len(x)))
    feats[1] = x
    fg.add_factor(["y"], LinearEnergy("w", features=feats), name="score")
    return fg


def tagging_data(rng, n_sentences=12, length=6):
    """Tags 0/1 from tokens 0/1 ("this tag") and 2 ("same tag as before"): needs transitions.

    Returns ``(graphs, targets)``; each sentence's unary energy is ``-onehot(token) . E``
    with a shared emission matrix ``E`` (3 x 2) and a shared transition ``T`` (2 x 2).
    """
    graphs, targets = [], []
    for _ in range(n_sentences):
        tokens = rng.integers(0, 3, size=length)
        tokens[0] = rng.integers(0, 2)
        tags = np.empty(length, dtype=np.int64)
        for t, tok in enumerate(tokens):
            tags[t] = tok if tok < 2 else tags[t - 1]
        fg = FactorGraph()
        y = fg.add_variables("y", shape=length, states=2)
        fg.add_factor_group(y.ids[:, None], LinearEnergy("E", features=np.eye(3)[tokens]), name="emission")
        fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), LinearEnergy("T"), name="transition")
        graphs.append(fg)
        targets.append(tags)
    return graphs, targets
