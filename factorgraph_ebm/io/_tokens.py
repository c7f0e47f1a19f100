"""Line-aware tokens of a text file: every reading error names the file and the line.

The readers of :mod:`factorgraph_ebm.io` walk a :class:`Tokens` cursor; each
method checks what it reads (integer syntax, ranges, finiteness, enough tokens
left) and raises :class:`~factorgraph_ebm.ParseError` with the file and the
line of the offending token, so malformed input never escapes as a bare
``IndexError`` or ``ValueError``.
"""

import gzip
import os
import re
import zlib

import numpy as np

from ..exceptions import DeclarationTypeError, ParseError

__all__ = ["Tokens", "source_name", "write_lines", "format_numbers"]

_INT = re.compile(r"[+-]?[0-9]{1,18}")
#: Written numbers keep 15 significant digits: exp(-(-log p)) then prints as p again.
_NUMBER = "{:.15g}".format
_SHOW = 24  # longest token echoed in a message


def _show(word):
    return repr(word if len(word) <= _SHOW else word[:_SHOW] + "...")


def source_name(source):
    """Name of a path or stream for messages (``"<stream>"`` when it has none)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def _is_gzip(path):
    return str(path).endswith(".gz")


def _read_text(source, limits=None):
    """``(name, text)`` of a path (``.gz`` decompressed) or stream; ``limits.text_bytes`` bounds what is read."""
    name = source_name(source)
    size = -1 if limits is None else limits.text_bytes + 1
    if isinstance(source, (str, os.PathLike)):
        try:
            with (gzip.open if _is_gzip(source) else open)(source, "rb") as fh:
                data = fh.read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ParseError(name, None, f"not a readable gzip file ({exc})") from None
    elif callable(getattr(source, "read", None)):
        data = source.read(size)
    else:
        raise DeclarationTypeError(f"source must be a path (str or os.PathLike) or an open text stream, "
                                   f"got {type(source).__name__}")
    if limits is not None:
        limits.check("text_bytes", len(data), name, None, "the text (after decompression) holds at least")
    if isinstance(data, str):
        return name, data
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ParseError(name, line, f"not a text file (byte {data[exc.start]:#04x} is not UTF-8)") from None


def format_numbers(values):
    """Space-separated text of float values, 15 significant digits.

    Examples
    --------
    >>> format_numbers(np.exp(-(-np.log([3.0, 0.1]))))
    '3 0.1'
    """
    return " ".join(map(_NUMBER, np.asarray(values, dtype=np.float64).ravel().tolist()))


def write_lines(target, lines):
    """Write ``lines`` (each without its newline) to a path (``.gz`` compressed) or an open text stream."""
    if not isinstance(target, (str, os.PathLike)):
        if not callable(getattr(target, "writelines", None)):
            raise DeclarationTypeError(f"target must be a path (str or os.PathLike) or an open text stream, "
                                       f"got {type(target).__name__}")
        target.writelines(line + "\n" for line in lines)
        return
    opener = gzip.open if _is_gzip(target) else open
    with opener(target, "wt", encoding="utf-8") as fh:
        fh.writelines(line + "\n" for line in lines)


class Tokens:
    """Whitespace-separated tokens of a text, with a read position.

    Parameters
    ----------
    source : path-like or text stream
        ``.gz`` paths are decompressed.
    comments : str
        Lines whose first non-blank character is one of these are skipped.
    limits : ReadLimits, optional
        Its ``text_bytes`` bounds the text read (after decompression).

    Examples
    --------
    >>> import io
    >>> toks = Tokens(io.StringIO("c a comment\\n2\\n 1 x\\n"), comments="c")
    >>> toks.count("number of things")
    2
    >>> toks.ints(2, "thing")
    Traceback (most recent call last):
        ...
    factorgraph_ebm.exceptions.ParseError: <stream>, line 3: expected an integer (thing), got 'x'
    """

    def __init__(self, source, comments="", limits=None):
        self.path, text = _read_text(source, limits)
        if comments:
            # blank out comment lines, keeping their newline so line numbers stay right
            text = re.sub(rf"(?m)^[^\S\n]*[{re.escape(comments)}][^\n]*", "", text)
        self._text = text
        self.words = text.split()
        self.pos = 0

    # ------------------------------------------------------------- positions
    @property
    def remaining(self):
        """Tokens not read yet."""
        return len(self.words) - self.pos

    def line_of(self, pos):
        """1-based line of token ``pos`` (of the last token for the end of the file).

        Found by rescanning the text: only errors need line numbers.
        """
        if not self.words:
            return 1
        pos = min(pos, len(self.words) - 1)
        for k, match in enumerate(re.finditer(r"\S+", self._text)):
            if k == pos:
                return self._text.count("\n", 0, match.start()) + 1
        return self._text.count("\n") + 1  # pragma: no cover

    def error(self, message, pos=None):
        """A :class:`ParseError` at token ``pos`` (default: the next token)."""
        pos = self.pos if pos is None else pos
        if pos >= len(self.words):
            message = f"unexpected end of file: {message}"
        return ParseError(self.path, self.line_of(pos), message)

    def check_limit(self, limits, name, value, what, pos=None):
        """Raise :class:`~factorgraph_ebm.exceptions.ResourceLimitError` at token ``pos`` (default: the last
        one read) when ``value`` exceeds limit ``name`` of ``limits`` (a :class:`~factorgraph_ebm.io.ReadLimits`)."""
        if value > getattr(limits, name):
            limits.check(name, value, self.path, self.line_of(self.pos - 1 if pos is None else pos), what)

    def _need(self, n, what):
        if n > self.remaining:
            raise self.error(f"expected {n} more tokens ({what}), found {self.remaining}", len(self.words))

    # --------------------------------------------------------------- reading
    def word(self, what):
        """The next token as it is."""
        self._need(1, what)
        self.pos += 1
        return self.words[self.pos - 1]

    def _parse_ints(self, words, positions, what, low, high):
        """Ints of ``words`` in ``[low, high]``; ``positions[k]`` is word k's token, ``what(k)`` (or a str) names it."""
        name = what if callable(what) else (lambda k: what)
        out = []
        for k, word in enumerate(words):
            if not _INT.fullmatch(word):
                raise self.error(f"expected an integer ({name(k)}), got {_show(word)}", positions[k])
            value = int(word)
            if value < low or (high is not None and value > high):
                span = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise self.error(f"{name(k)} must be {span}, got {value}", positions[k])
            out.append(value)
        return out

    def _parse_floats(self, words, positions, what, nonnegative, allow_neg_inf):
        """float64 of ``words``; ``positions`` and ``what`` as for :meth:`_parse_ints`."""
        name = what if callable(what) else (lambda k: what)
        try:
            out = np.array(words, dtype=np.float64)
        except ValueError:
            for k, word in enumerate(words):
                try:
                    float(word)
                except ValueError:
                    raise self.error(f"expected a number ({name(k)}), got {_show(word)}", positions[k]) from None
            raise self.error(f"expected numbers ({name(0)})", positions[0]) from None  # pragma: no cover
        ok = np.isfinite(out)
        if nonnegative:
            ok &= out >= 0
        if allow_neg_inf:
            ok |= out == -np.inf
        if not ok.all():
            k = int(np.argmin(ok))
            rule = "finite and >= 0" if nonnegative else "finite"
            raise self.error(f"{name(k)} must be {rule}, got {_show(words[k])}", positions[k])
        return out

    def scope(self, n, what, owner, high=None):
        """The next ``n`` tokens as distinct ints in ``[0, high]``: the variables of ``owner``."""
        first = self.pos
        values = self.ints(n, what, 0, high)
        if len(set(values)) < n:
            k = next(k for k in range(1, n) if values[k] in values[:k])
            raise self.error(f"variable {values[k]} appears twice in {owner}", first + k)
        return values

    def ints(self, n, what, low=0, high=None):
        """The next ``n`` tokens as a list of ints, each in ``[low, high]``."""
        self._need(n, what)
        start = self.pos
        out = self._parse_ints(self.words[start:start + n], range(start, start + n), what, low, high)
        self.pos += n
        return out

    def count(self, what, high=None):
        """The next token as a non-negative int (optionally at most ``high``)."""
        self._need(1, what)
        self.pos += 1
        return self._parse_ints(self.words[self.pos - 1:self.pos], (self.pos - 1,), what, 0, high)[0]

    def floats(self, n, what, nonnegative=True, allow_neg_inf=False):
        """The next ``n`` tokens as float64: finite (or ``-inf`` if allowed) and, by default, >= 0."""
        self._need(n, what)
        start = self.pos
        out = self._parse_floats(self.words[start:start + n], range(start, start + n), what, nonnegative, allow_neg_inf)
        self.pos += n
        return out

    def skip(self, n, what):
        """Reserve the next ``n`` tokens (raising if the file ends first); returns the first one's position.

        Read them later, many spans at once, with :meth:`spans`.
        """
        self._need(n, what)
        self.pos += n
        return self.pos - n

    def spans(self, starts, counts, what, kind="float", step=1):
        """Tokens of many spans converted in one go, as one flat array (span after span).

        Span ``i`` is ``counts[i]`` tokens from ``starts[i]``, every ``step``-th
        one; ``what(i)`` names span ``i`` in messages. ``kind="float"``:
        potentials (finite, >= 0); ``kind="int"``: ints >= 0.
        """
        words = []
        for start, count in zip(starts, counts):
            words.extend(self.words[start:start + step * count:step])
        ends = np.cumsum(counts, dtype=np.int64)

        def span(k):
            return int(np.searchsorted(ends, k, side="right"))

        class _Positions:
            def __getitem__(_, k):
                i = span(k)
                return starts[i] + step * (k - (int(ends[i - 1]) if i else 0))

        name = lambda k: what(span(k))  # noqa: E731
        if kind == "float":
            return self._parse_floats(words, _Positions(), name, True, False)
        return np.array(self._parse_ints(words, _Positions(), name, 0, None), dtype=np.int64)

    def pairs(self, n, what, first, second, value_kind="int"):
        """``n`` pairs ``int value``; returns ``(start, ints, values)``.

        ``what`` names the pairs, ``first`` and ``second`` their members, for
        messages; values are non-negative ints (``value_kind="int"``) or
        potentials (``"float"``). Token ``2 k + j`` after ``start`` is member
        ``j`` of pair ``k``.
        """
        start = self.skip(2 * n, what)
        keys = self.spans([start], [n], lambda i: first, "int", step=2)
        values = self.spans([start + 1], [n], lambda i: second, value_kind, step=2)
        return start, keys, values

    def expect_end(self, what):
        """Raise unless every token was read."""
        if self.remaining:
            raise self.error(f"unexpected {_show(self.words[self.pos])} after {what}")
