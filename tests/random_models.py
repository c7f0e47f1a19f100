"""Random factor graphs for oracle tests (forests and loopy graphs)."""

import numpy as np

from factorgraph_ebm import FactorGraph


def random_tables(rng, shape, inf_prob, scale=3.0):
    """Energies uniform in [-scale, scale] with a fraction ``inf_prob`` of +inf entries."""
    table = rng.uniform(-scale, scale, size=shape)
    table[rng.random(shape) < inf_prob] = np.inf
    return table


def random_forest(rng, n_vars, max_states=3, max_arity=4, n_factors=None, inf_prob=0.1):
    """A factor graph whose bipartite graph is a forest, with unary factors mixed in."""
    fg = FactorGraph()
    states = rng.integers(1, max_states + 1, size=n_vars)
    for v in range(n_vars):
        fg.add_variable(f"v{v}", int(states[v]))
    comp = list(range(n_vars))

    def find(u):
        while comp[u] != u:
            comp[u] = comp[comp[u]]
            u = comp[u]
        return u

    n_factors = n_factors if n_factors is not None else int(rng.integers(1, 2 * n_vars + 1))
    for _ in range(n_factors):
        arity = int(rng.integers(1, max_arity + 1))
        order = rng.permutation(n_vars)
        scope, roots = [], set()
        for u in order:
            r = find(int(u))
            if r not in roots:
                scope.append(int(u))
                roots.add(r)
            if len(scope) == arity:
                break
        for u in scope[1:]:
            comp[find(u)] = find(scope[0])
        shape = tuple(int(states[u]) for u in scope)
        fg.add_factor([f"v{u}" for u in scope], random_tables(rng, shape, inf_prob))
    return fg


def random_graph(rng, n_vars, n_factors, max_states=3, max_arity=3, inf_prob=0.1, scale=3.0):
    """Any factor graph (usually loopy)."""
    fg = FactorGraph()
    states = rng.integers(1, max_states + 1, size=n_vars)
    for v in range(n_vars):
        fg.add_variable(f"v{v}", int(states[v]))
    for _ in range(n_factors):
        arity = int(rng.integers(1, min(max_arity, n_vars) + 1))
        scope = rng.choice(n_vars, size=arity, replace=False)
        shape = tuple(int(states[u]) for u in scope)
        fg.add_factor([f"v{u}" for u in scope], random_tables(rng, shape, inf_prob, scale))
    return fg


def random_evidence(rng, fg, prob):
    """Clamp each variable with probability ``prob`` to a random state."""
    ev = {}
    for block in fg.variable_blocks:
        if rng.random() < prob:
            ev[block.name] = int(rng.integers(block.states))
    return ev


def potts_grid(n, k, coupling, rng, field=1.0):
    """n x n Potts grid declared with factor groups; random unary fields."""
    fg = FactorGraph()
    x = fg.add_variables("x", shape=(n, n), states=k)
    fg.add_factor_group(x.ids.reshape(-1, 1), rng.uniform(0, field, size=(n * n, k)), name="unary")
    pair = coupling * (1.0 - np.eye(k))
    h = np.stack([x.ids[:, :-1].ravel(), x.ids[:, 1:].ravel()], axis=1)
    v = np.stack([x.ids[:-1, :].ravel(), x.ids[1:, :].ravel()], axis=1)
    fg.add_factor_group(h, pair, name="h")
    fg.add_factor_group(v, pair, name="v")
    return fg
