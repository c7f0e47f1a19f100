"""Malformed files raise ParseError naming the file and the line; a fuzz loop finds no other error."""

import io
import re
import time

import numpy as np
import pytest

from factorgraph_ebm import FactorGraphError, ParseError
from factorgraph_ebm.io import read_evidence, read_libdai, read_result, read_uai, write_libdai
from model_files import tree
from test_libdai_files import SAMPLE as FG_SAMPLE
from test_uai_files import SPEC_EXAMPLE as UAI_SAMPLE

BAYES_SAMPLE = "BAYES\n2\n2 2\n2\n1 0\n2 0 1\n\n2\n0.3 0.7\n\n4\n0.9 0.1\n0.2 0.8\n"


def named(text, name):
    stream = io.StringIO(text)
    stream.name = name
    return stream


@pytest.mark.parametrize("text, line, match", [
    (UAI_SAMPLE[:60], 12, r"unexpected end of file: expected 6 more tokens \(potential of factor 1\), found 0"),
    (UAI_SAMPLE.replace("MARKOV", "MARKOF"), 1, "network type must be MARKOV or BAYES, got 'MARKOF'"),
    (UAI_SAMPLE.replace("2 2 3", "2 0 3"), 3, r"variable cardinalities must be >= 1, got 0"),
    (UAI_SAMPLE.replace("2 2 3", "2 2 x"), 3, r"expected an integer \(variable cardinalities\), got 'x'"),
    (UAI_SAMPLE.replace("2 1 2\n", "2 1 3\n"), 6, r"variable index of factor 1 must be in \[0, 2\], got 3"),
    (UAI_SAMPLE.replace("2 1 2\n", "2 1 1\n"), 6, r"variable 1 appears twice in the scope of factor 1"),
    (UAI_SAMPLE.replace("\n6\n", "\n5\n"), 12, r"table of factor 1 has 5 entries, expected 6"),
    (UAI_SAMPLE.replace("0.128", "-0.128"), 10, r"potential of factor 0 must be finite and >= 0, got '-0.128'"),
    (UAI_SAMPLE.replace("0.128", "nan"), 10, r"potential of factor 0 must be finite and >= 0, got 'nan'"),
    (UAI_SAMPLE.replace("0.811", "1,5"), 14, r"expected a number \(potential of factor 1\), got '1,5'"),
    (UAI_SAMPLE.replace("\n2\n2 0 1", "\n3\n2 0 1"), 9, r"expected an integer \(variable index of factor 2\), got '0.436'"),
    (UAI_SAMPLE + "0.5\n", 15, r"unexpected '0.5' after the 2 tables"),
    (UAI_SAMPLE.replace("MARKOV\n3", "MARKOV\n-3"), 2, r"number of variables must be >= 0, got -3"),
    (UAI_SAMPLE.replace("MARKOV\n3", "MARKOV\n99999999"), 14, r"unexpected end of file: expected 99999999 more tokens"),
    (BAYES_SAMPLE.replace("0.2 0.8", "0.2"), 13, r"unexpected end of file: expected 4 more tokens \(probability"),
    ("MARKOV 0 1 0 1 2.0", 1, r"a constant factor \(empty scope\) needs a variable"),
])
def test_malformed_uai(text, line, match):
    with pytest.raises(ParseError, match=rf"^model\.uai, line {line}: ({match})") as info:
        read_uai(named(text, "model.uai"))
    assert info.value.path == "model.uai" and info.value.line == line


@pytest.mark.parametrize("text, line, match", [
    (FG_SAMPLE.replace("2 3\n4", "3 3\n4"), 15, r"variable 3 has 3 states in factor 1 but 2 in an earlier factor"),
    (FG_SAMPLE.replace("5 6.0", "6 6.0"), 20, r"entry index 6 of factor 1 out of range \[0, 6\)"),
    (FG_SAMPLE.replace("5 6.0", "3 6.0"), 20, r"entry index 3 of factor 1 is listed twice"),
    (FG_SAMPLE.replace("1 2.0", "1 -2.0"), 18, r"potential of factor 1 must be finite and >= 0, got '-2.0'"),
    (FG_SAMPLE.replace("3 8\n", "3 3\n"), 14, r"variable 3 appears twice in factor 1"),
    (FG_SAMPLE.replace("\n4\n0 1.0", "\n7\n0 1.0"), 16, r"number of nonzero entries of factor 1 must be in \[0, 6\], got 7"),
    (FG_SAMPLE[:-8], 19, r"unexpected end of file: expected 8 more tokens \(entries of factor 1\)"),
    ("1\n2\n0 1\n100000 100000\n0\n", 4, r"factor 0 has 10000000000 table entries, over the limit factor_entries"),
    ("1\n0\n\n1\n0 2.0\n", 1, r"a constant factor \(empty scope\) needs a variable"),
    ("2\n\n1\n0\n2\n0\n\n", 6, r"unexpected end of file: expected 1 more tokens \(number of variables of factor 1\)"),
])
def test_malformed_libdai(text, line, match):
    with pytest.raises(ParseError, match=rf"^model\.fg, line {line}: ({match})"):
        read_libdai(named(text, "model.fg"))


def test_binary_and_missing_files(tmp_path):
    path = tmp_path / "bin.uai"
    path.write_bytes(b"MARKOV\n1\n\xff\xfe\n")
    with pytest.raises(ParseError, match=r"bin\.uai, line 3: not a text file"):
        read_uai(path)
    gz = tmp_path / "fake.uai.gz"
    gz.write_text("MARKOV")
    with pytest.raises(ParseError, match=r"fake\.uai\.gz: not a readable gzip file"):
        read_uai(gz)
    with pytest.raises(FileNotFoundError):
        read_uai(tmp_path / "missing.uai")


# ------------------------------------------------------------------ fuzzing
_REPLACEMENTS = ["-1", "0", "1", "2", "3", "7", "1e3", "-0.5", "nan", "inf", "-inf", "x", "1.5", "", "MARKOV",
                 "BAYES", "-BEGIN-", "1e400", "99999999999", "9" * 30, "0x10", "1_0", "\u0663", "#", "c"]


def _mutate(text, rng):
    """One random corruption: token edits, truncation, junk characters, line shuffles."""
    spans = [m.span() for m in re.finditer(r"\S+", text)] or [(0, 0)]
    kind = int(rng.integers(7))
    a, b = spans[int(rng.integers(len(spans)))]
    if kind == 0:
        return text[:a] + text[b:]
    if kind == 1:
        return text[:b] + " " + text[a:b] + text[b:]
    if kind == 2:
        return text[:a] + _REPLACEMENTS[int(rng.integers(len(_REPLACEMENTS)))] + text[b:]
    if kind == 3:
        return text[:int(rng.integers(len(text) + 1))]
    if kind == 4:
        junk = "".join(chr(int(c)) for c in rng.integers(0, 0x3000, size=int(rng.integers(1, 4))))
        cut = int(rng.integers(len(text) + 1))
        return text[:cut] + junk + text[cut:]
    lines = text.split("\n")
    i, j = rng.integers(len(lines), size=2)
    if kind == 5:
        lines[i], lines[j] = lines[j], lines[i]
    else:
        del lines[i]
    return "\n".join(lines)


def _tree_fg_text():
    out = io.StringIO()
    write_libdai(read_uai(io.StringIO(tree(np.random.default_rng(0), zero_prob=0.2).uai_text())), out)
    return out.getvalue()


def test_fuzzed_files_fail_only_with_parse_errors():
    rng = np.random.default_rng(12345)
    evid_model = read_uai(io.StringIO(UAI_SAMPLE))
    tree_text = tree(np.random.default_rng(0), zero_prob=0.2).uai_text()
    cases = [
        (read_uai, UAI_SAMPLE), (read_uai, BAYES_SAMPLE), (read_uai, tree_text),
        (read_uai, "MARKOV 2 2 2 2 0 2 0 1 1 3.0 4 1 2 3 4"),  # with a constant factor
        (read_libdai, FG_SAMPLE), (read_libdai, _tree_fg_text()),
        (read_libdai, "2\n\n0\n\n\n1\n0 5.0\n\n1\n0\n2\n2\n0 1\n1 3\n"),
        (lambda s: read_evidence(s, evid_model), "2 1 0 2 2\n"),
        (lambda s: read_evidence(s, evid_model), "2\n1 0 1\n2 0 1 2 2\n"),
        (read_result, "MAR\n3 2 0.5 0.5 2 0.1 0.9 3 0.2 0.3 0.5\n"),
        (read_result, "MPE\n3 0 1 2\n-BEGIN-\n3 1 1 1\n"),
        (read_result, "PR\n-1.25\n"),
    ]
    n_per_case, parsed, rejected = 400, 0, 0
    start = time.perf_counter()
    for read, base in cases:
        for _ in range(n_per_case):
            text = base
            for _ in range(int(rng.integers(1, 4))):
                text = _mutate(text, rng)
            source = io.BytesIO(text.encode("utf-8", "surrogatepass")) if rng.random() < 0.5 else io.StringIO(text)
            try:
                read(source)
                parsed += 1
            except ParseError as exc:
                assert re.match(r"<stream>(, line \d+)?: \S", str(exc)), str(exc)
                assert exc.line is None or exc.line >= 1
                rejected += 1
    print(f"fuzz: {parsed} corrupted files read, {rejected} rejected with ParseError")
    assert parsed + rejected == n_per_case * len(cases)
    assert rejected > parsed  # most corruptions are caught...
    assert parsed > 0         # ...and harmless ones (a duplicated comment, a changed value) still read
    assert time.perf_counter() - start < 30


def test_bad_value_inside_valid_structure_is_still_a_factorgraph_error():
    # ParseError is a FactorGraphError (and a ValueError): callers can catch either
    with pytest.raises(FactorGraphError):
        read_uai(io.StringIO("MARKOV 1 2 1 1 0 2 1 -1"))
    with pytest.raises(ValueError):
        read_uai(io.StringIO("MARKOV 1 2 1 1 0 2 1 -1"))
