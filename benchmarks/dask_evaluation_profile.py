"""Where the time of one data-parallel evaluation goes: ChainTagger NLL on the full EWT train set, 2 workers.

Usage (from the repository root; needs the ``distributed`` extra)::

    python benchmarks/dask_evaluation_profile.py                  # full EWT train set
    python benchmarks/dask_evaluation_profile.py --sentences 3000 # quick look

Prints, as medians of ``--repeats`` timed calls after one warm-up (seconds):

* the evaluation (mean NLL and gradient) in this process with one thread, and
  each shard's half of the data alone in this process;
* the two halves at the same time in two plain processes (no Dask): what two
  cores of this machine give at best for this kernel, without any overhead;
* one :class:`DaskBackend` evaluation on a ``LocalCluster`` of 2 workers x 1
  thread: wall time on the client, the slowest shard inside the loss, and the
  overhead (their difference), with its pieces: building the shards' parameter
  vectors, scattering them, a round trip of two empty tasks, and the client's
  sum of the returned gradients;
* the bytes each way and the nonzero entries of each shard's gradient.

Timings on a shared machine are noisy: the load average is printed before and after.
"""

import argparse
import multiprocessing as mp
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dask_training import DATA, chain_data  # noqa: E402


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def half(data, params, which):
    """Shard ``which`` (0 or 1) of two, compacted as DaskBackend compacts it, and its parameters."""
    n = len(data)
    part = data.subset(np.arange(0, n // 2) if which == 0 else np.arange(n // 2, n))
    part, rows = part.compact()
    return part, {"emission": np.ascontiguousarray(params["emission"][rows["emission"]]),
                  "transition": params["transition"]}


def _half_in_a_process(queue, barrier, data, params, which, repeats):
    import numba

    from factorgraph_ebm.models._chain import ChainNLL

    numba.set_num_threads(1)
    part, p = half(data, params, which)
    loss = ChainNLL()
    loss.evaluate(part, p)
    barrier.wait()                          # both processes start timing together
    queue.put((which, median_seconds(lambda: loss.evaluate(part, p), repeats)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--sentences", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import distributed
    import numba

    from factorgraph_ebm import Parameters
    from factorgraph_ebm.io import read_conllu
    from factorgraph_ebm.models import token_features
    from factorgraph_ebm.models._chain import ChainNLL
    from factorgraph_ebm.train import DaskBackend

    numba.set_num_threads(1)
    load_before = os.getloadavg()
    words, tags = read_conllu(pathlib.Path(args.data) / "en_ewt-ud-train.conllu.gz")
    if args.sentences:
        words, tags = words[:args.sentences], tags[:args.sentences]
    classes = np.unique(np.concatenate(tags))
    data = chain_data([token_features(s) for s in words], tags, classes)
    k, n_features = len(classes), data.features.shape[1]
    rng = np.random.default_rng(0)
    params = Parameters(emission=0.1 * rng.normal(size=(n_features, k)), transition=0.1 * rng.normal(size=(k, k)))
    loss = ChainNLL()
    rows = {}
    r = args.repeats
    rows["one process, 1 thread"] = median_seconds(lambda: loss.evaluate(data, params), r)
    for which in (0, 1):
        part, p = half(data, params, which)
        rows[f"half {which} alone in this process"] = median_seconds(lambda: loss.evaluate(part, p), r)
    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=_half_in_a_process, args=(queue, barrier, data, params, w, r)) for w in (0, 1)]
    for proc in procs:
        proc.start()
    both = dict(queue.get() for _ in procs)
    for proc in procs:
        proc.join()
    for which in (0, 1):
        rows[f"half {which}, both halves at once in 2 plain processes"] = both[which]

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  env=env) as cluster, distributed.Client(cluster) as client:
        backend = DaskBackend(client, numba_threads=1)
        shards = backend.shard(data, loss, len(data), params, prepared=True)
        everything = np.arange(len(data))
        got, want = shards.evaluate(everything, params), loss.evaluate(data, params)
        for key in ("evaluations", "seconds", "worker_seconds", "bytes_to_workers", "bytes_from_workers"):
            backend.stats[key] = 0
        rows["DaskBackend evaluation, client wall"] = median_seconds(lambda: shards.evaluate(everything, params), r)
        s = backend.stats
        n = s["evaluations"]
        rows["  slowest shard inside the loss (mean)"] = s["worker_seconds"] / n
        rows["  overhead: wall - slowest shard (mean)"] = (s["seconds"] - s["worker_seconds"]) / n
        thetas = [shards.local_theta(params, i) for i in range(len(shards.futures))]
        workers = backend.workers()
        rows["  client: the shards' parameter vectors"] = median_seconds(
            lambda: [shards.local_theta(params, i) for i in range(len(shards.futures))], r)
        rows["  client: scatter them to their workers"] = median_seconds(
            lambda: [client.scatter(t, workers=[workers[i % len(workers)]], direct=True, hash=False)
                     for i, t in enumerate(thetas)], r)
        rows["  round trip of 2 empty tasks"] = median_seconds(
            lambda: client.gather([client.submit(int, i, workers=[workers[i % len(workers)]], pure=False)
                                   for i in range(2)]), r)
        grads = [np.asarray(g) for g in client.gather(
            [client.submit(lambda sh, th, c: sh.evaluate(th, c)[1], shards.futures[i], thetas[i], c, pure=False)
             for i, c in enumerate(shards.chunks(everything))], direct=True)]

        def client_sum():
            grad = {name: np.zeros(shape) for name, shape in shards.shapes}
            for i, g in enumerate(grads):
                pos = 0
                for name, shape in shards.shapes:
                    sel = shards.rows[i].get(name)
                    size = int(np.prod(shape)) if sel is None else len(sel) * int(np.prod(shape[1:]))
                    piece = g[pos:pos + size].reshape((-1,) + shape[1:])
                    if sel is None:
                        grad[name] += piece.reshape(shape)
                    else:
                        grad[name][sel] += piece
                    pos += size
            return grad

        rows["  client: sum of the shards' gradients"] = median_seconds(client_sum, r)
        shards.close()
    print(f"{len(data)} sentences, {data.n_tokens} tokens, {n_features * k + k * k} parameters; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"value relative difference (2 shards vs one process): {abs(got.value - want.value) / abs(want.value):.1e}")
    print(f"bytes per evaluation: {(s['bytes_to_workers'] + s['bytes_from_workers']) / n / 1e6:.1f} MB "
          f"(parameters out {s['bytes_to_workers'] / n / 1e6:.1f} MB, gradients back "
          f"{s['bytes_from_workers'] / n / 1e6:.1f} MB); gradient nonzeros per shard: "
          + ", ".join(f"{np.count_nonzero(g)} of {len(g)}" for g in grads))
    width = max(map(len, rows))
    for name, seconds in rows.items():
        print(f"{name:{width}s}  {seconds:.4f} s")


if __name__ == "__main__":
    main()
