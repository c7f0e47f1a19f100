"""Real sentences for the tagger tests: the first 200 of UD English-EWT's dev set (skipped without the data)."""

import pytest


@pytest.fixture(scope="session")
def ewt():
    """``(path, words, tags)``: the dev file and its first 200 sentences (words and UPOS tags)."""
    from factorgraph_ebm.io import read_conllu
    from shared_data import shared_data

    path = shared_data("ud_english_ewt", "en_ewt-ud-dev.conllu.gz")
    words, tags = read_conllu(path)
    return path, words[:200], tags[:200]
