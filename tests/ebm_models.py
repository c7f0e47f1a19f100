"""Small parameterized models and data sets shared by the loss and trainer tests."""

import numpy as np
from scipy.sparse import csr_matrix

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


class FaultyEnergy(Energy):
    """``E(y) = [0, J]`` over one binary variable, whose backward returns ``bad_gradient(sensitivity)``."""

    parameter_names = ("J",)

    def __init__(self, bad_gradient):
        self.bad_gradient = bad_gradient

    def table(self, parameters=None):
        return np.array([0.0, float(parameters["J"][0])])

    def backward(self, sensitivity, parameters=None):
        return {"J": self.bad_gradient(sensitivity)}


def faulty_graph(bad_gradient):
    """One binary output with a :class:`FaultyEnergy`."""
    fg = FactorGraph()
    fg.add_variable("y", 2)
    fg.add_factor(["y"], FaultyEnergy(bad_gradient))
    return fg


def chain_graph(rng, length=4, states=3, n_features=2, custom=False, sparse=False):
    """A chain: unary ``-x_t . U[:, y_t]`` and one shared transition (LinearEnergy or custom).

    ``sparse=True`` gives the features as a CSR matrix with some zeros.
    """
    fg = FactorGraph()
    y = fg.add_variables("y", shape=length, states=states)
    x = rng.normal(size=(length, n_features))
    if sparse:
        x[rng.random(x.shape) < 0.3] = 0.0
        x = csr_matrix(x)
    fg.add_factor_group(y.ids[:, None], LinearEnergy("U", features=x), name="unary")
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


def tagging_data(rng, n_sentences=12, length=6, transitions=True):
    """Tags cycle 0 -> 1 -> 2 -> 0; token k < 3 reveals tag k, token 3 reveals nothing.

    The first token always reveals its tag, later ones with probability 0.3, so
    the hidden tags follow from the transitions: a chain can tag every token
    right, unary energies alone cannot (``transitions=False`` declares no
    transition factors). Returns ``(graphs, targets)``; each
    sentence's unary energy is ``-onehot(token) . E`` with a shared emission
    matrix ``E`` (4 x 3) and a shared transition ``T`` (3 x 3).
    """
    graphs, targets = [], []
    for _ in range(n_sentences):
        tags = (rng.integers(3) + np.arange(length)) % 3
        tokens = np.where(rng.random(length) < 0.3, tags, 3)
        tokens[0] = tags[0]
        fg = FactorGraph()
        y = fg.add_variables("y", shape=length, states=3)
        fg.add_factor_group(y.ids[:, None], LinearEnergy("E", features=np.eye(4)[tokens]), name="emission")
        if transitions:
            fg.add_factor_group(np.stack([y.ids[:-1], y.ids[1:]], 1), LinearEnergy("T"), name="transition")
        graphs.append(fg)
        targets.append(tags)
    return graphs, targets


def motif_data(rng, n_examples=40, length=6, latent=True):
    """Class 1 iff token 0 is immediately followed by token 1 somewhere (tokens 0..3).

    Every sequence holds at least one 0 and one 1, so the token counts do not
    tell the classes apart: a model that scores the sequence as a whole (sum
    over positions) cannot learn it. With a latent position z (``latent=True``)
    the energy ``E(y=1, z) = -(a[x_z] + b[x_{z+1}])`` looks at one position,
    and ``min_z`` finds the motif wherever it sits. ``E(y=0) = -c``. One factor
    over (y, z) with features, parameter ``w`` of length 9 (a, b, c).
    """
    graphs, targets = [], []
    while len(targets) < n_examples:
        x = rng.integers(0, 4, size=length)
        if not ((x == 0).any() and (x == 1).any()):
            continue
        label = int(np.any((x[:-1] == 0) & (x[1:] == 1)))
        ones = sum(targets)
        if ones >= n_examples // 2 if label else len(targets) - ones >= n_examples - n_examples // 2:
            continue  # keep the classes balanced
        onehot = np.eye(4)
        per_position = np.concatenate([onehot[x[:-1]], onehot[x[1:]], np.zeros((length - 1, 1))], axis=1)
        bias = np.zeros(9)
        bias[8] = 1.0
        fg = FactorGraph()
        fg.add_variable("y", 2)
        if latent:
            fg.add_variable("z", length - 1, role="latent")
            feats = np.zeros((2, length - 1, 9))
            feats[0] = bias
            feats[1] = per_position
            fg.add_factor(["y", "z"], LinearEnergy("w", features=feats), name="motif")
        else:
            fg.add_factor(["y"], LinearEnergy("w", features=np.stack([bias, per_position.sum(axis=0)])),
                          name="motif")
        graphs.append(fg)
        targets.append(label)
    return graphs, targets
