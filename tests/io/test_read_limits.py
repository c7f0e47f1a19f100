"""Resource limits of the readers (issue 14): tiny files that ask for huge models fail before allocating."""

import io

import numpy as np
import pytest

from factorgraph_ebm import FactorGraph, infer
from factorgraph_ebm.cli.main import main
from factorgraph_ebm.exceptions import (
    FactorGraphError,
    InferenceError,
    MemoryBudgetError,
    ParseError,
    ResourceLimitError,
)
from factorgraph_ebm.io import read_evidence, read_libdai, read_model, read_result, read_uai, write_uai
from factorgraph_ebm.io.limits import ReadLimits, parse_limit, resolve_limits
from factorgraph_ebm.models import potts_grid


def raises_limit(limit, reader, text, **kwargs):
    with pytest.raises(ResourceLimitError) as info:
        reader(io.StringIO(text), **kwargs)
    err = info.value
    assert err.limit == limit and err.value > err.maximum
    assert isinstance(err, ParseError) and err.path == "<stream>" and err.line is not None
    message = str(err)
    assert f"limits={{{limit!r}: ...}}" in message and f"fgebm --limit {limit}=VALUE" in message
    return err


# ------------------------------------------------------------------ the files
def test_fg_of_24_bytes_with_a_huge_variable():
    text = "1\n1\n0\n100000000\n0\n"
    assert len(text) <= 24
    err = raises_limit("states", read_libdai, text)
    assert (err.value, err.maximum, err.line) == (10**8, ReadLimits().states, 4)


def test_fg_of_24_bytes_with_a_huge_sparse_table():
    text = "1\n2\n0 1\n10000 10000\n0\n"
    assert len(text) <= 24
    assert raises_limit("factor_entries", read_libdai, text).value == 10**8


def test_fg_sparse_tables_count_in_full():
    text = "1\n2\n0 1\n5 5\n1\n0 1.0\n"
    raises_limit("factor_entries", read_libdai, text, limits={"factor_entries": 24})
    fg = read_libdai(io.StringIO(text), limits={"factor_entries": 25})
    assert np.isinf(fg.factor_specs[0].energy.table()).sum() == 24
    raises_limit("total_entries", read_libdai, "2\n1\n0\n5\n0\n\n1\n1\n5\n0\n", limits={"total_entries": 9})


def test_uai_constant_factors_spread_over_a_variable():
    # about 201 bytes: constant factors, each spread over the 2**26 states of the only variable (10 GiB)
    n = 20
    text = "MARKOV 1 67108864 " + f"{n} " + "0 " * n + "1 2 " * n
    assert len(text) <= 201
    raises_limit("states", read_uai, text)
    raised = {"states": 2**26, "total_states": 2**26}
    raises_limit("factor_entries", read_uai, text, limits=raised)
    err = raises_limit("total_entries", read_uai, text, limits={**raised, "factor_entries": 2**26})
    assert err.value == n * 2**26 and err.maximum == ReadLimits().total_entries
    # exact count: 3 constants over 4 states = 12 entries
    small = "MARKOV 1 4 3 0 0 0 1 2 1 3 1 4"
    raises_limit("total_entries", read_uai, small, limits={"total_entries": 11})
    fg = read_uai(io.StringIO(small), limits={"total_entries": 12})
    assert np.isclose(infer(fg, method="enumerate").log_partition, np.log(24 * 4))
    raises_limit("factor_entries", read_uai, small, limits={"factor_entries": 3})


@pytest.mark.parametrize("states", [10**12, 10**8])
def test_uai_one_variable_with_huge_states(states):
    text = f"MARKOV\n1\n{states}\n0\n"
    assert len(text) <= 41
    err = raises_limit("states", read_uai, text)
    assert (err.value, err.line) == (states, 3)


def test_raised_limits_let_a_file_through():
    text = "MARKOV 2 3 3 1 2 0 1 9 " + "1 " * 9
    raises_limit("states", read_uai, text, limits=ReadLimits(states=2))
    raises_limit("total_states", read_uai, text, limits={"total_states": 5})
    raises_limit("variables", read_uai, text, limits={"variables": 1})
    raises_limit("factor_entries", read_uai, text, limits={"factor_entries": 8})
    assert read_uai(io.StringIO(text), limits={"states": 3, "total_states": 6}).n_vars == 2


def test_read_model_passes_limits(tmp_path):
    path = tmp_path / "m.fg"
    path.write_text("1\n1\n0\n3\n0\n")
    with pytest.raises(ResourceLimitError, match=r"^.*m\.fg, line 4: .*states=2"):
        read_model(path, limits={"states": 2})
    assert read_model(path).n_vars == 1


@pytest.mark.parametrize("reader, text", [
    (read_uai, "MARKOV 1 2 1000000000"),
    (read_libdai, "1000000000"),
    (read_uai, "MARKOV 1000000000 2 2"),
])
def test_huge_counts_without_tokens_fail_fast_at_end_of_file(reader, text):
    with pytest.raises(ParseError, match="unexpected end of file") as info:
        reader(io.StringIO(text))
    assert not isinstance(info.value, ResourceLimitError)


def test_result_files():
    raises_limit("states", read_result, "MAR\n1 1000000000000 0.5\n")
    raises_limit("variables", read_result, "MPE\n3 0 0 0\n", limits={"variables": 2})
    raises_limit("total_states", read_result, "MAR\n2 2 0.5 0.5 2 0.5 0.5\n", limits={"total_states": 3})
    with pytest.raises(ParseError, match="unexpected end of file"):
        read_result(io.StringIO("MAR\n1000000000000\n"))
    assert read_result(io.StringIO("MAR\n1 2 0.5 0.5\n"), limits={"states": 2})[1][0].tolist() == [0.5, 0.5]


def test_evidence_counts():
    fg = FactorGraph()
    for name in range(3):
        fg.add_variable(name, 2)
    raises_limit("variables", lambda src, **kw: read_evidence(src, fg, **kw), "2 0 1 1 0", limits={"variables": 1})
    with pytest.raises(ParseError, match="unexpected end of file"):
        read_evidence(io.StringIO("1000000000 1 0 1"), fg)
    with pytest.raises(ParseError, match=r"gives variable 1 two states \(0 and 1\)"):
        read_evidence(io.StringIO("3 2 1 1 0 1 1"), fg)
    assert read_evidence(io.StringIO("3 1 0 2 1 1 0"), fg).tolist() == [-1, 0, 1]
    assert read_evidence(io.StringIO("2\n1 0 1\n1 2 0\n"), fg, sample=1).tolist() == [-1, -1, 0]


# ------------------------------------------------------------------ the limits themselves
def test_limits_parse_and_reject_unknown_names():
    assert ReadLimits.from_mapping({"states": 4_000_000}).states == 4_000_000
    assert ReadLimits.from_mapping({"states": "4M"}, base=ReadLimits(variables=7)).variables == 7
    assert parse_limit("total_entries=1G") == ("total_entries", 1 << 30)
    assert parse_limit(" states = 12 ") == ("states", 12)
    assert resolve_limits(None) == ReadLimits()
    for bad in ({"colours": 3}, {"states": 0}, {"states": 2.5}, {"states": True}, {"states": "x"}, [1]):
        with pytest.raises(FactorGraphError):
            ReadLimits.from_mapping(bad)
    with pytest.raises(FactorGraphError, match="variables, states, total_states, factor_entries"):
        parse_limit("colours=3")
    with pytest.raises(FactorGraphError, match="NAME=VALUE"):
        parse_limit("states")
    limits = ReadLimits()
    with pytest.raises(AttributeError):
        limits.states = 3  # frozen: a failure cannot change the limits in force


def test_defaults_admit_a_grid_of_a_million_variables():
    limits = ReadLimits()
    n, k = 1000 * 1000, 2
    assert n <= limits.variables and n * k <= limits.total_states
    # unary tables and one table per edge (write_uai of potts_grid): n K + 2 n K**2 entries
    assert n * k + 2 * n * k * k <= limits.total_entries
    assert 2**20 <= limits.factor_entries  # CSP factors of arity 20
    # uai2014_dev: 13000 variables, 36 states, 2304 entries per factor, 405908 in all
    assert 36 <= limits.states and 405908 <= limits.total_entries


def test_a_small_grid_reads_back_within_tight_limits(tmp_path):
    fg = potts_grid(np.zeros((4, 4, 2)), 1.0)
    path = tmp_path / "g.uai"
    write_uai(fg, path)
    back = read_uai(path, limits={"variables": 16, "states": 2, "total_states": 32, "total_entries": 32 + 24 * 4})
    assert back.n_vars == 16
    with pytest.raises(ResourceLimitError):
        read_uai(path, limits={"total_entries": 32 + 24 * 4 - 1})


# ------------------------------------------------------------------ inference memory
def test_python_graph_with_1e12_states_fails_before_allocating():
    fg = FactorGraph()
    fg.add_variable("x", 10**12)
    for method in ("auto", "bp", "exact"):
        with pytest.raises(MemoryBudgetError) as info:
            infer(fg, method=method)
        assert isinstance(info.value, InferenceError) and info.value.needed > info.value.budget
        assert "memory_budget=" in str(info.value)


def test_python_graph_with_1e8_states_under_1g():
    fg = FactorGraph()
    fg.add_variable("x", 10**8)
    for method in ("auto", "bp", "exact"):
        with pytest.raises(MemoryBudgetError, match="over the memory budget of 1.07 GB"):
            infer(fg, method=method, memory_budget="1G")


def test_exact_over_budget_is_a_memory_budget_error():
    with pytest.raises(MemoryBudgetError, match="exact inference would need"):
        infer(potts_grid(np.zeros((10, 10, 2)), 1.0), method="exact", memory_budget=1e5)


def test_bp_within_budget_still_runs():
    fg = potts_grid(np.zeros((3, 3, 2)), 0.5)
    res = infer(fg, method="bp", memory_budget="1M")
    assert np.isfinite(res.log_partition)


# ------------------------------------------------------------------ fgebm --limit
def write(tmp_path, text, name="m.uai"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cli_limit_option(tmp_path, capsys):
    path = write(tmp_path, "MARKOV 1 3 1 1 0 3 1 2 3\n")
    assert main(["info", str(path), "-q", "--limit", "states=2"]) != 0
    err = capsys.readouterr().err
    assert "states=2" in err and "--limit states=VALUE" in err and len(err.strip().splitlines()) == 1
    assert main(["infer", str(path), "--task", "PR", "-q", "--limit", "states=2", "--limit", "states=3"]) == 0
    assert main(["convert", str(path), str(tmp_path / "o.fg"), "-q", "--limit", "total_entries=3"]) == 0
    for bad in ("colours=3", "states", "states=-1"):
        with pytest.raises(SystemExit) as info:
            main(["info", str(path), "--limit", bad])
        assert info.value.code == 2
        assert "--limit" in capsys.readouterr().err


def test_cli_result_bytes(tmp_path, capsys):
    path = write(tmp_path, "MARKOV 1 3 1 1 0 3 1 2 3\n")
    out = tmp_path / "r.MAR"
    assert main(["infer", str(path), "--task", "MAR", "-q", "--out", str(out), "--limit", "result_bytes=60"]) != 0
    err = capsys.readouterr().err
    assert "result_bytes=60" in err and "m.uai" in err
    assert not out.exists()
    assert main(["infer", str(path), "--task", "MAR", "-q", "--out", str(out)]) == 0
    assert out.stat().st_size <= 200


def _first_clash(pairs):
    """Reference: the first pair giving its variable a state other than the one given before."""
    seen = {}
    for k, (v, s) in enumerate(pairs):
        if seen.setdefault(v, s) != s:
            return k, v, seen[v], s
    return None


def test_evidence_clash_found_like_a_loop():
    # the vectorised check (no per-sample array of the model's size) reports what the loop reported
    rng = np.random.default_rng(0)
    fg = FactorGraph()
    for name in range(4):
        fg.add_variable(name, 3)
    for _ in range(200):
        pairs = rng.integers(0, [4, 3], size=(int(rng.integers(1, 7)), 2)).tolist()
        text = " ".join(map(str, [len(pairs), *np.ravel(pairs).tolist()]))
        clash = _first_clash(pairs)
        if clash is None:
            expected = np.full(4, -1)
            for v, s in pairs:
                expected[v] = s
            assert read_evidence(io.StringIO(text), fg).tolist() == expected.tolist()
        else:
            k, v, first, s = clash
            with pytest.raises(ParseError, match=rf"gives variable {v} two states \({first} and {s}\)"):
                read_evidence(io.StringIO(text), fg)


def test_a_gzip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    """A few kB of gzip that expand to 64 MiB: read no further than text_bytes (+1) bytes."""
    import gzip

    from factorgraph_ebm.exceptions import ResourceLimitError
    from factorgraph_ebm.io import read_uai

    path = tmp_path / "bomb.uai.gz"
    path.write_bytes(gzip.compress(b"MARKOV\n1\n2\n0\n" + b" " * (64 << 20)))
    assert path.stat().st_size < 100_000
    with pytest.raises(ResourceLimitError, match="over the limit text_bytes=1048576") as info:
        read_uai(path, limits={"text_bytes": "1M"})
    assert info.value.limit == "text_bytes" and info.value.path == str(path)
    assert read_uai(path).n_vars == 1  # under the default 256 MiB it is only whitespace
