"""CoNLL-U treebanks (Universal Dependencies): sentences of words and their tags.

Only what a tagger needs is read: the word form (column 2) and one tag column
(UPOS, column 4, by default). Multiword-token lines (``3-4``) and empty nodes
(``5.1``) carry no tag and are skipped; comment lines start with ``#``;
sentences end at a blank line. ``.gz`` files are decompressed.
"""

from ..exceptions import FactorGraphError, ParseError
from ._tokens import _read_text

__all__ = ["read_conllu", "CONLLU_COLUMNS"]

#: Tag columns by name (0-based index into the 10 tab-separated fields).
CONLLU_COLUMNS = {"upos": 3, "xpos": 4}


def read_conllu(source, column="upos"):
    """Read the sentences of a CoNLL-U file.

    Parameters
    ----------
    source : path or text stream
        A ``.conllu`` file (``.conllu.gz`` is decompressed).
    column : {"upos", "xpos"}
        Which tag to read.

    Returns
    -------
    words, tags : list of list of str
        One list per sentence, one entry per word.

    Raises
    ------
    ParseError
        A data line without 10 tab-separated fields, a word without a tag
        (``_``), or a file with no sentence; the message names the file and line.

    Examples
    --------
    >>> import io
    >>> text = ("# text = I can't\\n1\\tI\\tI\\tPRON\\tPRP\\t_\\t2\\tnsubj\\t_\\t_\\n"
    ...         "2-3\\tcan't\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\n"
    ...         "2\\tca\\tcan\\tAUX\\tMD\\t_\\t0\\troot\\t_\\t_\\n"
    ...         "3\\tn't\\tnot\\tPART\\tRB\\t_\\t2\\tadvmod\\t_\\t_\\n\\n")
    >>> read_conllu(io.StringIO(text))
    ([['I', 'ca', "n't"]], [['PRON', 'AUX', 'PART']])
    """
    if column not in CONLLU_COLUMNS:
        raise FactorGraphError(f"column must be one of {sorted(CONLLU_COLUMNS)}, got {column!r}")
    col = CONLLU_COLUMNS[column]
    name, text = _read_text(source)
    words, tags, sent_words, sent_tags = [], [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if sent_words:
                words.append(sent_words)
                tags.append(sent_tags)
                sent_words, sent_tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise ParseError(name, number, f"expected 10 tab-separated fields, got {len(fields)}")
        if "-" in fields[0] or "." in fields[0]:
            continue                     # multiword token or empty node: no tag
        if fields[col] == "_":
            raise ParseError(name, number, f"word {fields[1]!r} has no {column} tag")
        sent_words.append(fields[1])
        sent_tags.append(fields[col])
    if sent_words:
        words.append(sent_words)
        tags.append(sent_tags)
    if not words:
        raise ParseError(name, None, "no sentence found")
    return words, tags
