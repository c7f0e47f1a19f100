"""Data-parallel training and batch inference on a real dask.distributed local cluster (issue 17).

Every result is compared with the same computation in this process: ChainTagger
NLL + L-BFGS, hinge + Adam on declared graphs, SGD with a checkpoint and resume,
map_infer / map_predict, and a run in which one worker process dies in the middle
of an evaluation. One cluster (2 worker processes, 1 thread each) serves the module;
the data are the first sentences of UD English-EWT's dev set.
"""

import os
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="needs dask.distributed (pip install -e \".[distributed]\")")

from factorgraph_ebm import DeclarationTypeError, Trainer, TrainingError, infer  # noqa: E402
from factorgraph_ebm.models import ChainTagger, FeatureIndex, token_features  # noqa: E402
from factorgraph_ebm.models._chain import ChainData, ChainNLL  # noqa: E402
from factorgraph_ebm.train import SGD, DaskBackend, map_infer, map_predict  # noqa: E402
from factorgraph_ebm.train.distributed import import_distributed, open_backend  # noqa: E402

RTOL = 1e-9


@pytest.fixture(scope="module")
def client():
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  env=env) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def sentences():
    from factorgraph_ebm.io import read_conllu
    from shared_data import shared_data

    words, tags = read_conllu(shared_data("ud_english_ewt", "en_ewt-ud-dev.conllu.gz"))
    return [token_features(s) for s in words[:240]], tags[:240]


def _chain_data(X, tags):
    """The tagger's first-order token block (ChainData) of ``X``, and the zero parameters."""
    index = FeatureIndex().fit(X)
    stacked, lengths = index.transform_stacked(X)
    classes = np.unique(np.concatenate(tags))
    target = np.searchsorted(classes, np.concatenate(tags))
    data = ChainData(stacked, np.concatenate([[0], np.cumsum(lengths)]), target, len(classes))
    k = len(classes)
    return data, {"emission": np.zeros((stacked.shape[1], k)), "transition": np.zeros((k, k))}


def _close(a, b, rtol=RTOL):
    for name in a:
        scale = max(np.abs(a[name]).max(), 1e-300)
        assert np.abs(a[name] - b[name]).max() <= rtol * scale, name


def test_chain_tagger_lbfgs_matches_one_process(client, sentences):
    X, y = sentences
    settings = dict(l2=1e-2, max_iter=25, progress=False)
    one = ChainTagger(**settings).fit(X[:200], y[:200])
    dist = ChainTagger(**settings, cluster=client).fit(X[:200], y[:200])
    assert dist.n_iter_ == one.n_iter_ == 25
    h1, h2 = one.trainer_.history_[-1], dist.trainer_.history_[-1]
    assert h2["objective"] == pytest.approx(h1["objective"], rel=RTOL)
    assert h2["loss"] == pytest.approx(h1["loss"], rel=RTOL)
    _close(one.parameters_, dist.parameters_, rtol=1e-7)
    assert dist.score(X[200:], y[200:]) == one.score(X[200:], y[200:]) > 0.7
    # sums in shard order: the same run again gives the same bits
    again = ChainTagger(**settings, cluster=DaskBackend(client)).fit(X[:200], y[:200])
    for name in dist.parameters_:
        np.testing.assert_array_equal(again.parameters_[name], dist.parameters_[name])
    assert dist.cluster is client and "cluster" in dist.get_params()


def test_shard_evaluation_equals_the_single_process_objective(client, sentences):
    X, y = sentences
    data, init = _chain_data(X[:120], y[:120])
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=v.shape) for k, v in init.items()}
    from factorgraph_ebm import Parameters

    params = Parameters(params)
    expected = ChainNLL().evaluate(data, params)
    backend = DaskBackend(client, n_shards=3)
    shards = backend.shard(data, ChainNLL(), 50, params, prepared=True)
    try:
        for indices in (np.arange(len(data)), np.array([3, 40, 41, 90, 119])):   # all, and a mini-batch
            got = shards.evaluate(indices, params)
            want = expected if len(indices) == len(data) else ChainNLL().evaluate(data.subset(indices), params)
            assert got.value == pytest.approx(want.value, rel=1e-12)
            _close(want.gradient, got.gradient, rtol=1e-12)
    finally:
        shards.close()
    assert backend.stats["evaluations"] == 2 and backend.stats["shards"] == 3
    # a shard receives (and returns) only the emission rows of the features its tokens use
    k = data.n_classes
    sizes = []
    for i in range(3):
        cols = np.unique(data.subset(np.arange(shards.bounds[i], shards.bounds[i + 1])).features.indices)
        np.testing.assert_array_equal(shards.rows[i]["emission"], cols)
        sizes.append((len(cols) * k + k * k) * 8)
    # shards of about equal work (ChainData.example_costs), and the mini-batch [3, 40, 41, 90, 119] touches all 3
    from factorgraph_ebm.train.distributed import shard_bounds

    np.testing.assert_array_equal(shards.bounds, shard_bounds(120, 3, data.example_costs))
    assert np.all(np.diff(np.searchsorted([3, 40, 41, 90, 119], shards.bounds)) > 0), shards.bounds
    assert backend.stats["bytes_to_workers"] == backend.stats["bytes_from_workers"] == 2 * sum(sizes)
    assert sum(sizes) < 3 * sum(v.size for v in params.values()) * 8


def test_hinge_adam_on_declared_graphs_matches_one_process(client, sentences):
    X, y = sentences
    settings = dict(loss="hinge", optimizer="adam", learning_rate=0.05, batch_size=16, max_iter=2, random_state=3,
                    progress=False)
    one = ChainTagger(**settings).fit(X[:60], y[:60])
    dist = ChainTagger(**settings, cluster=client).fit(X[:60], y[:60])
    assert dist.n_iter_ == one.n_iter_ == 8
    _close(one.parameters_, dist.parameters_)
    for a, b in zip(one.trainer_.history_, dist.trainer_.history_):
        assert b["loss"] == pytest.approx(a["loss"], rel=RTOL)


def test_sgd_checkpoint_and_resume_on_the_cluster(client, sentences, tmp_path):
    X, y = sentences
    data, init = _chain_data(X[:100], y[:100])
    settings = dict(loss=ChainNLL(), optimizer=SGD(learning_rate=0.5, momentum=0.5), batch_size=20, l2=1e-3,
                    random_state=7, progress=False)
    one = Trainer(**settings, max_epochs=3).fit(data, None, parameters=init)
    path = tmp_path / "run.npz"
    Trainer(**settings, max_epochs=2, checkpoint=path, cluster=client).fit(data, None, parameters=init)
    resumed = Trainer(**settings, max_epochs=3, cluster=client).fit(data, None, resume=path)
    assert resumed.n_iter_ == one.n_iter_ == 15
    _close(one.parameters_, resumed.parameters_)
    assert resumed.history_[-1]["loss"] == pytest.approx(one.history_[-1]["loss"], rel=RTOL)


def test_map_infer_and_map_predict_match_one_process(client, sentences):
    X, y = sentences
    tagger = ChainTagger(l2=1e-2, max_iter=10, progress=False).fit(X[:80], y[:80])
    held_out = X[80:160]
    labels = map_predict(tagger, held_out, cluster=client, partition_size=7)
    assert len(labels) == len(held_out)
    for got, want in zip(labels, tagger.predict(held_out)):
        np.testing.assert_array_equal(got, want)
    marg = map_predict(tagger, held_out[:20], method="predict_marginals", cluster=client, beta=0.5)
    for got, want in zip(marg, tagger.predict_marginals(held_out[:20], beta=0.5)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    import dask.bag as db

    bag = map_predict(tagger, db.from_sequence(held_out, npartitions=3))
    for got, want in zip(bag.compute(scheduler=client.get), labels):
        np.testing.assert_array_equal(got, want)
    # infer on each sentence's declared graph: MAP at beta=inf, marginals and log Z at beta=1
    rows = tagger._features(held_out[:30])
    graphs = [tagger._graph(r) for r in rows]
    for beta in (np.inf, 1.0):
        # in this process first: the workers then load the kernels it compiled from the disk cache
        wants = [infer(g, beta=beta, parameters=tagger.parameters_) for g in graphs]
        results = map_infer(graphs, cluster=client, partition_size=4, beta=beta, parameters=tagger.parameters_)
        assert len(results) == len(graphs)
        for res, want in zip(results, wants):
            if np.isinf(beta):
                np.testing.assert_array_equal(res.map_state, want.map_state)
            else:
                assert res.log_partition == pytest.approx(want.log_partition, rel=1e-12)
                np.testing.assert_allclose(res.marginal_array, want.marginal_array, rtol=1e-12)
    states = map_infer(graphs, cluster=client, select="map_state", beta=np.inf, parameters=tagger.parameters_)
    for got, g in zip(states, graphs):
        np.testing.assert_array_equal(got, infer(g, beta=np.inf, parameters=tagger.parameters_).map_state)


def test_shards_are_cut_at_equal_work(client, sentences):
    X, y = sentences
    order = np.argsort([len(s) for s in X[:120]], kind="stable")        # short sentences first: uneven halves
    data, init = _chain_data([X[i] for i in order], [y[i] for i in order])
    costs = data.example_costs()
    shards = DaskBackend(client, n_shards=2).shard(data, ChainNLL(), 50, init, prepared=True)
    try:
        lo, cut, hi = shards.bounds
        assert (lo, hi) == (0, len(data)) and 0 < cut < len(data)
        assert abs(costs[:cut].sum() - costs[cut:].sum()) <= costs.max()
        assert cut > len(data) // 2                                       # more of the short ones in shard 0
        got = shards.evaluate(np.arange(len(data)), init)
        want = ChainNLL().evaluate(data, init)
        assert got.value == pytest.approx(want.value, rel=RTOL)
        _close(want.gradient, got.gradient)
    finally:
        shards.close()


def _mixed_graphs(n, seed=0):
    """``n`` small graphs: chains of 1-8 variables with 2-4 states, some with a loop, a second component with a
    forbidden state, or evidence; with their evidence (None for most)."""
    from factorgraph_ebm import FactorGraph

    rng = np.random.default_rng(seed)
    graphs, evidence = [], []
    for i in range(n):
        fg = FactorGraph()
        m, k = int(rng.integers(1, 9)), int(rng.integers(2, 5))
        x = fg.add_variables("x", shape=m, states=k)
        fg.add_factor_group(np.arange(m)[:, None], rng.normal(size=(m, k)))
        if m > 1:
            fg.add_factor_group(np.stack([x.ids[:-1], x.ids[1:]], 1), rng.normal(size=(k, k)))
        if i % 4 == 1 and m > 2:                                   # a loop: answered graph by graph
            fg.add_factor([("x", 0), ("x", m - 1)], rng.normal(size=(k, k)))
        if i % 4 == 2:
            fg.add_variable("b", 3)
            fg.add_factor(["b"], [0.0, np.inf, float(rng.normal())])
        graphs.append(fg)
        evidence.append({("x", int(rng.integers(m))): int(rng.integers(k))} if i % 4 == 3 else None)
    return graphs, evidence


BATCH_NAMES = ("map_state", "map_energy", "free_energy", "log_partition", "marginal_array", "marginals",
               "map_assignment", "log_partition_bound", "energy_lower_bound", "gap", "method", "n_iter")


def _same(got, want, what):
    if isinstance(want, dict):
        assert got.keys() == want.keys(), what
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{what} {key}")
    elif isinstance(want, np.ndarray):
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        assert got == want, (what, got, want)


@pytest.mark.parametrize("beta", [np.inf, 1.0])
def test_map_infer_batches_partitions_with_the_answers_of_infer_graph_by_graph(client, beta, monkeypatch):
    from factorgraph_ebm.train.distributed import _infer_partition

    graphs, evidence = _mixed_graphs(240, seed=int(np.isinf(beta)))
    wants = []
    for g, ev in zip(graphs, evidence):
        r = infer(g, ev, beta=beta)
        wants.append(tuple(getattr(r, n)() if n in ("marginals", "map_assignment") else getattr(r, n)
                           for n in BATCH_NAMES))
    assert {w[BATCH_NAMES.index("method")] for w in wants} >= {"tree-bp"}
    in_process = map_infer(graphs, evidence, beta=beta, select=BATCH_NAMES)
    on_cluster = map_infer(graphs, evidence, cluster=client, partition_size=37, beta=beta, select=BATCH_NAMES)
    for i, want in enumerate(wants):
        for answers in (in_process, on_cluster):
            for name, got, w in zip(BATCH_NAMES, answers[i], want):
                _same(got, w, f"graph {i}: {name}")
    one = map_infer(graphs, evidence, beta=beta, select="map_energy")          # a single name: not a tuple
    assert one == [w[BATCH_NAMES.index("map_energy")] for w in wants]
    # the batch path really ran: one infer call answers every forest of a partition
    calls = []
    import factorgraph_ebm.inference.api as api

    real = api.infer
    monkeypatch.setattr(api, "infer", lambda *a, **k: calls.append(1) or real(*a, **k))
    _infer_partition(graphs[:40], evidence[:40], {"beta": beta}, "map_state")
    loopy = sum(w[BATCH_NAMES.index("method")] != "tree-bp" for w in wants[:40])
    assert len(calls) == 1 + loopy


def test_map_infer_batch_falls_back_to_graph_by_graph_errors_and_options():
    from factorgraph_ebm import FactorGraph
    from factorgraph_ebm.exceptions import ZeroPartitionError

    graphs, evidence = _mixed_graphs(12)
    dead = FactorGraph()
    _ = dead.add_variable("d", 2)
    _ = dead.add_factor(["d"], [np.inf, np.inf])
    with pytest.raises(ZeroPartitionError, match="'d'"):               # named as infer on that graph names it
        map_infer(graphs + [dead], evidence + [None], beta=np.inf, select="map_state")
    exact = map_infer(graphs, evidence, method="exact", beta=1.0, select="log_partition")   # not batched
    assert exact == [infer(g, ev, method="exact", beta=1.0).log_partition for g, ev in zip(graphs, evidence)]


def test_embedded_local_cluster_is_started_and_closed(sentences):
    X, y = sentences
    one = ChainTagger(l2=1e-2, max_iter=5, progress=False).fit(X[:40], y[:40])
    dist = ChainTagger(l2=1e-2, max_iter=5, progress=False, n_workers=2).fit(X[:40], y[:40])
    _close(one.parameters_, dist.parameters_, rtol=1e-7)
    assert dist.trainer_.history_[-1]["objective"] == pytest.approx(one.trainer_.history_[-1]["objective"],
                                                                     rel=RTOL)


def test_bad_cluster_options(client, sentences):
    with pytest.raises(DeclarationTypeError, match="cluster must be a dask.distributed.Client or a DaskBackend"):
        open_backend("tcp://127.0.0.1:8786", None)
    with pytest.raises(DeclarationTypeError, match="either cluster= or n_workers="):
        open_backend(client, 2)
    with pytest.raises(DeclarationTypeError, match="not started"):
        open_backend(DaskBackend(n_workers=2), None)
    X, y = sentences
    data, init = _chain_data(X[:10], y[:10])
    with pytest.raises(TrainingError, match="loss 'pcd' keeps sampling chains"):
        DaskBackend(client).shard(data, type("L", (), {"stochastic": True, "name": "pcd"})(), 5, init, True)


def test_clones_share_the_backend():
    sklearn_base = pytest.importorskip("sklearn.base")
    backend = DaskBackend(n_workers=2)                         # not started: nothing to copy
    tagger = ChainTagger(cluster=backend)
    assert sklearn_base.clone(tagger).cluster is backend
    assert Trainer(cluster=backend).set_params(n_workers=None).get_params()["cluster"] is backend


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[distributed\]"'):
        import_distributed()


class KillOnce(ChainNLL):
    """ChainNLL whose third evaluation of shard 0 kills its worker process once (the marker file says so)."""

    marker = None

    def evaluate(self, batch, parameters):
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls == 3 and batch.target[0] == self.first_target and self.marker is not None:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(1)                                  # the worker dies in the middle of the evaluation
        return super().evaluate(batch, parameters)


def test_a_worker_killed_mid_training_gives_the_undisturbed_parameters(client, sentences, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import this test module
    X, y = sentences
    data, init = _chain_data(X[:100], y[:100])
    settings = dict(optimizer="lbfgs", batch_size=None, max_epochs=1, l2=1e-2, progress=False)
    settings["optimizer"] = __import__("factorgraph_ebm").train.LBFGS(max_iter=12)
    calm = KillOnce(beta=1.0)
    calm.first_target = -1
    undisturbed = Trainer(calm, **settings, cluster=client).fit(data, None, parameters=init)
    killer = KillOnce(beta=1.0)
    killer.first_target, killer.marker = int(data.target[0]), str(tmp_path / "killed")
    disturbed = Trainer(killer, **settings, cluster=client).fit(data, None, parameters=init)
    assert os.path.exists(killer.marker)                       # a worker did die
    assert disturbed.n_iter_ == undisturbed.n_iter_
    for name in init:
        np.testing.assert_array_equal(disturbed.parameters_[name], undisturbed.parameters_[name])
    client.wait_for_workers(2, timeout=60)                     # the nanny restarted it
