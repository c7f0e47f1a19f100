"""Fuzzing: mutated model, evidence, result and saved-state files end in a clean load or a documented error.

A few hundred variants of every kind of file (tests/fuzzing.py builds them;
benchmarks/fuzz_files.py runs ten thousand and reports counts). Loaders may
only raise the documented class (ParseError, and TrainingError for a resume),
inference only ZeroPartitionError or MemoryBudgetError, and ``fgebm`` must end
with exit status 0, 1 or 3 and one-line messages, never a traceback.
"""

import collections

import pytest

import fuzzing

N_VARIANTS = 1500


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return fuzzing.model_seeds(real=["MAR/Segmentation_14"]) + fuzzing.state_seeds(tmp_path_factory.mktemp("seeds"))


def test_mutated_files_end_cleanly_or_with_documented_errors(seeds, tmp_path):
    outcomes = collections.Counter()
    findings = []
    for number in range(N_VARIANTS):
        result = fuzzing.run_variant(seeds, number, tmp_path)
        outcomes[result["kind"], result["outcome"]] += 1
        findings += [f"variant {number} ({result['seed']}): {f}" for f in result["findings"]]
    assert not findings, "\n".join(findings[:20])
    # the mutations reach both sides: files that still load and files that are refused, for every kind
    # (saved state is validated so strictly that few mutations keep a file loadable: counted over the three kinds)
    for kind in ("model", "evidence", "result", "parameters", "checkpoint", "tagger"):
        assert outcomes[kind, "ParseError"] + outcomes[kind, "ResourceLimitError"] > 0, (kind, outcomes)
    for kinds in (["model"], ["evidence"], ["result"], ["parameters", "checkpoint", "tagger"]):
        assert sum(outcomes[kind, "ok"] for kind in kinds) > 0, (kinds, outcomes)


def test_variants_are_reproducible(seeds):
    for number in (0, 7, 123):
        assert fuzzing.make_variant(seeds, number)[1] == fuzzing.make_variant(seeds, number)[1]
