"""Data-parallel ChainTagger NLL on Dask: one process against a local cluster, on the full UD English-EWT train set.

Usage (from the repository root; needs the ``distributed`` extra)::

    python benchmarks/dask_training.py                          # full EWT train set, 2 workers
    python benchmarks/dask_training.py --sentences 2000 --graphs 1000 --lbfgs-iter 10   # quick look

What is measured
----------------
* Seconds per evaluation of the CRF objective (mean NLL and its gradient, the
  ``ChainNLL`` loss ChainTagger trains with) at fixed random parameters:
  in this process with one Numba thread, and through :class:`DaskBackend` on a
  ``LocalCluster`` of ``--workers`` processes with one thread each (one shard
  per worker). The two take turns, ``--repeats`` times after one warm-up
  evaluation each (which builds the shards and compiles nothing: the kernels
  are in the disk cache); medians.
* Overhead per evaluation: the evaluation's wall time on the client minus the
  time the slowest shard spent inside the loss (serialisation, scheduling,
  transfers and the client's sum), as a fraction of the evaluation.
* Bytes per evaluation: the parameter vector broadcast to every worker plus one
  gradient back from every shard (float64).
* Identical results: ChainTagger NLL + L-BFGS for ``--lbfgs-iter`` iterations in
  one process and on the cluster; the relative difference of the final
  objectives and both test-set accuracies.
* Batch inference: ``infer`` at ``beta=inf`` on ``--graphs`` declared sentence
  graphs (the EWT test set, repeated), in one process as one batch (the fastest
  single-process way: one compile, one kernel call; graph by graph is reported
  too) and through :func:`map_infer` with ``select="map_state"`` (each
  partition one batch on a worker); the number of MAP states that differ
  between the three (must be 0).

Writes ``--out`` (.json and .md, default ``benchmarks/results/dask_training``) and
prints the table, with the machine and the load average before and after.
"""

import argparse
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import machine, write_report  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(os.environ.get("FGEBM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "ud_english_ewt"


def chain_data(X, tags, classes):
    from factorgraph_ebm.models import FeatureIndex
    from factorgraph_ebm.models._chain import ChainData

    index = FeatureIndex().fit(X)
    stacked, lengths = index.transform_stacked(X)
    target = np.searchsorted(classes, np.concatenate(tags))
    return ChainData(stacked, np.concatenate([[0], np.cumsum(lengths)]), target, len(classes))


def interleaved_seconds(fns, repeats):
    """Median seconds of each of ``fns``, timed in turn ``repeats`` times (after one warm-up call each).

    Taking turns exposes both sides to the same load from other processes on a shared machine.
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return [float(np.median(t)) for t in times]


def markdown(r):
    e = r["evaluation"]
    lines = [f"Full EWT train set: {r['sentences']} sentences, {r['tokens']} tokens, {r['n_parameters']} "
             f"parameters ({r['n_parameters'] * 8 / 1e6:.1f} MB as float64). Machine: {r['machine']['cpu']}, "
             f"{r['machine']['cores']} cores; load average before {r['load_before'][0]:.2f}, after "
             f"{r['load_after'][0]:.2f}.", "",
             "| ChainTagger NLL, one evaluation (loss + gradient) | seconds | speed-up | overhead | bytes sent |",
             "|---|---:|---:|---:|---:|",
             f"| 1 process, 1 thread | {e['single_seconds']:.3f} | 1.00x | - | 0 |",
             f"| {r['workers']} workers x 1 thread (Dask LocalCluster) | {e['dask_seconds']:.3f} | "
             f"{e['single_seconds'] / e['dask_seconds']:.2f}x | {100 * e['overhead_fraction']:.1f}% | "
             f"{e['bytes_per_evaluation'] / 1e6:.1f} MB |", ""]
    lb = r.get("lbfgs")
    if lb:
        lines += [f"L-BFGS, {lb['iterations']} iterations: objective {lb['single_objective']:.12g} (1 process) vs "
                  f"{lb['dask_objective']:.12g} ({r['workers']} workers), relative difference "
                  f"{lb['relative_difference']:.1e}; test accuracy {lb['single_accuracy']:.4f} vs "
                  f"{lb['dask_accuracy']:.4f}; `ChainTagger.fit` seconds (feature extraction included) "
                  f"{lb['single_seconds']:.1f} vs {lb['dask_seconds']:.1f}; seconds per L-BFGS iteration "
                  f"(`Trainer` on the token block) {lb['single_seconds_per_iteration']:.3f} vs "
                  f"{lb['dask_seconds_per_iteration']:.3f} "
                  f"({lb['single_seconds_per_iteration'] / lb['dask_seconds_per_iteration']:.2f}x).", ""]
    bi = r.get("batch_inference")
    if bi:
        lines += [f"Batch inference, {bi['graphs']} sentence graphs, MAP (`infer`, beta=inf): "
                  f"{bi['single_seconds']:.2f} s in one process as one batch (`infer(graphs)`; "
                  f"{bi['per_graph_seconds']:.1f} s graph by graph), {bi['dask_seconds']:.2f} s through "
                  f"`map_infer(..., select=\"map_state\")` on {r['workers']} workers (each partition one batch); "
                  f"MAP states that differ: {bi['differences']}.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--sentences", type=int, default=None, help="first N training sentences (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--lbfgs-iter", type=int, default=30)
    parser.add_argument("--graphs", type=int, default=10000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "dask_training"))
    args = parser.parse_args(argv)

    import numba
    import distributed

    from factorgraph_ebm import Parameters, infer
    from factorgraph_ebm.io import read_conllu
    from factorgraph_ebm.models import ChainTagger, token_features
    from factorgraph_ebm.models._chain import ChainNLL
    from factorgraph_ebm.train import DaskBackend, map_infer

    numba.set_num_threads(1)
    report = {"load_before": os.getloadavg(), "machine": machine("dask", "distributed"), "workers": args.workers}
    words, tags = read_conllu(pathlib.Path(args.data) / "en_ewt-ud-train.conllu.gz")
    test_words, test_tags = read_conllu(pathlib.Path(args.data) / "en_ewt-ud-test.conllu.gz")
    if args.sentences:
        words, tags = words[:args.sentences], tags[:args.sentences]
    X, X_test = [token_features(s) for s in words], [token_features(s) for s in test_words]
    classes = np.unique(np.concatenate(tags))
    data = chain_data(X, tags, classes)
    k = len(classes)
    n_features = data.features.shape[1]
    rng = np.random.default_rng(0)
    params = Parameters(emission=0.1 * rng.normal(size=(n_features, k)), transition=0.1 * rng.normal(size=(k, k)))
    n_params = n_features * k + k * k
    report.update(sentences=len(data), tokens=data.n_tokens, n_parameters=n_params)
    loss = ChainNLL()

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", env=env) as cluster, distributed.Client(cluster) as client:
        backend = DaskBackend(client, numba_threads=1)
        shards = backend.shard(data, loss, len(data), params, prepared=True)
        everything = np.arange(len(data))
        want = loss.evaluate(data, params).value
        got = shards.evaluate(everything, params).value         # warm-up: builds the shards
        for key in ("evaluations", "seconds", "worker_seconds", "bytes_to_workers", "bytes_from_workers"):
            backend.stats[key] = 0
        single, dask = interleaved_seconds([lambda: loss.evaluate(data, params),
                                            lambda: shards.evaluate(everything, params)], args.repeats)
        s = backend.stats
        n_eval = s["evaluations"]
        report["evaluation"] = {
            "single_seconds": single, "dask_seconds": dask, "mean_dask_seconds": s["seconds"] / n_eval,
            "mean_worker_seconds": s["worker_seconds"] / n_eval,
            "overhead_fraction": 1.0 - s["worker_seconds"] / s["seconds"],
            "bytes_per_evaluation": (s["bytes_to_workers"] + s["bytes_from_workers"]) / n_eval,
            "value_relative_difference": abs(got - want) / abs(want)}
        shards.close()

        print(f"evaluation: {report['evaluation']}", file=sys.stderr, flush=True)
        if args.lbfgs_iter:
            settings = dict(l2=1e-4, max_iter=args.lbfgs_iter, tol=0.0, progress=False)
            t = time.perf_counter()
            one = ChainTagger(**settings).fit(X, tags)
            t_one = time.perf_counter() - t
            t = time.perf_counter()
            two = ChainTagger(**settings, cluster=client).fit(X, tags)
            t_two = time.perf_counter() - t
            a, b = one.trainer_.history_[-1]["objective"], two.trainer_.history_[-1]["objective"]
            report["lbfgs"] = {"iterations": int(two.n_iter_), "single_objective": a, "dask_objective": b,
                               "relative_difference": abs(a - b) / abs(a), "single_seconds": t_one,
                               "dask_seconds": t_two, "single_accuracy": one.score(X_test, test_tags),
                               "dask_accuracy": two.score(X_test, test_tags)}
            # the optimisation alone (no feature extraction): seconds per L-BFGS iteration, both ways
            from factorgraph_ebm import Trainer
            from factorgraph_ebm.train import LBFGS

            init = {"emission": np.zeros((n_features, k)), "transition": np.zeros((k, k))}
            for name, cluster in (("single", None), ("dask", DaskBackend(client, numba_threads=1))):
                t = time.perf_counter()
                fitted = Trainer(ChainNLL(), LBFGS(max_iter=args.lbfgs_iter, tol=0.0), batch_size=None, l2=1e-4,
                                 progress=False, cluster=cluster).fit(data, None, parameters=init)
                report["lbfgs"][f"{name}_seconds_per_iteration"] = (time.perf_counter() - t) / fitted.n_iter_
            print(f"lbfgs: {report['lbfgs']}", file=sys.stderr, flush=True)
        if args.graphs:
            tagger = ChainTagger(l2=1e-2, max_iter=5, progress=False).fit(X[:500], tags[:500])
            rows = tagger._features(X_test)
            graphs = [tagger._graph(rows[i % len(rows)]) for i in range(args.graphs)]
            t = time.perf_counter()
            per_graph = [infer(g, beta=np.inf, parameters=tagger.parameters_).map_state for g in graphs]
            t_per_graph = time.perf_counter() - t
            # the strongest one-process way: every graph in one batch (one compile, one kernel call)
            t = time.perf_counter()
            batch = infer(graphs, beta=np.inf, parameters=tagger.parameters_)
            ptr = batch.compiled.graph_var_ptr
            ones = [batch.map_state[ptr[i]:ptr[i + 1]] for i in range(len(graphs))]
            t_one = time.perf_counter() - t
            warm = dict(cluster=client, beta=np.inf, parameters=tagger.parameters_, select="map_state")
            map_infer(graphs[:40], **warm)                     # the workers load the kernels
            t = time.perf_counter()
            twos = map_infer(graphs, **warm)
            t_two = time.perf_counter() - t
            diff = sum(int(np.count_nonzero(x != y)) + int(np.count_nonzero(x != z))
                       for x, y, z in zip(ones, twos, per_graph))
            report["batch_inference"] = {"graphs": len(graphs), "single_seconds": t_one,
                                         "per_graph_seconds": t_per_graph, "dask_seconds": t_two,
                                         "differences": diff}
    write_report(report, args.out, markdown)


if __name__ == "__main__":
    main()
