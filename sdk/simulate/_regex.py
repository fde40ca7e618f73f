"""Strings matching a regular expression, drawn for many rows at once with numpy.

Only a subset of Python's syntax is understood, the part that simple data contracts use:
literal characters, ``.``, classes (``[A-Z]``, ``[^@]``, ``[\\d,]``), ``\\d \\w \\s`` and their
negations, groups (``(...)``, ``(?:...)``, ``(?P<name>...)``) with alternatives (``a|b``),
quantifiers ``? * + {n} {n,} {n,m}`` (lazy or not), the anchors ``^``/``\\A`` at the start and
``$``/``\\Z`` at the end, and the flags ``(?i)``, ``(?m)``, ``(?s)``, ``(?a)``, ``(?u)``. Anything
else (back references, lookarounds, ``\\b``, verbose mode) raises :class:`RegexUnsupported`, and
so do ``{,m}`` and possessive quantifiers: pandas matches Arrow strings with RE2, which reads the
first as text and refuses the second, so the same pattern would mean two things.

Unbounded repetitions (``*``, ``+``, ``{n,}``) draw at most :data:`MAX_EXTRA` repetitions more
than their minimum. Classes and ``.`` draw ASCII characters (``.`` and negated classes prefer
letters and digits), so every row is written into one byte matrix and handed to Arrow as a
string array without a Python loop per row.
"""

from __future__ import annotations

import re
import string

import attrs
import numpy as np
import pyarrow as pa

__all__ = ["MAX_EXTRA", "RegexUnsupported", "StringPattern"]

MAX_EXTRA = 8
"""How many repetitions beyond the minimum ``*``, ``+`` and ``{n,}`` may draw."""

_CAP = 2**62  # capacities above this count as unlimited
_ALNUM = frozenset(map(ord, string.ascii_letters + string.digits))
_PRINTABLE = frozenset(range(32, 127))
_CLASSES = {
    "d": frozenset(map(ord, string.digits)),
    "w": frozenset(map(ord, string.ascii_letters + string.digits + "_")),
    "s": frozenset({ord(" ")}),  # a space only: tabs and line ends would garble CSV files
}
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "0": "\0"}
_FLAGS = {"i", "m", "s", "a", "u"}  # none changes which generated strings match
_BRACES = re.compile(r"\{(\d*)(,(\d*))?\}")


class RegexUnsupported(ValueError):
    """The pattern uses syntax outside the generated subset; the message names it."""


@attrs.frozen(eq=False)
class _Literal:
    data: bytes


@attrs.frozen(eq=False)
class _Class:
    options: np.ndarray  # uint8 code points


@attrs.frozen(eq=False)
class _Group:
    alternatives: tuple[tuple[_Item, ...], ...]


@attrs.frozen(eq=False)
class _Item:
    atom: _Literal | _Class | _Group
    lo: int
    hi: int


def _class(members: frozenset[int], negated: bool, where: str) -> _Class:
    ascii_members = frozenset(m for m in members if m < 128)
    chosen = (
        ((_ALNUM - ascii_members) or (_PRINTABLE - ascii_members)) if negated else ascii_members
    )
    if not chosen:
        raise RegexUnsupported(f"a character class with no ASCII character to draw ({where})")
    return _Class(np.array(sorted(chosen), dtype=np.uint8))


class _Parser:
    """Recursive descent over the pattern text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, what: str) -> RegexUnsupported:
        return RegexUnsupported(f"{what} at position {self.i}")

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < len(self.text) else ""

    def parse(self) -> _Group:
        self._flags()
        group = self._alternatives(top=True)
        if self.i < len(self.text):
            raise self.fail(f"an unbalanced {self.peek()!r}")
        return group

    def _flags(self) -> None:
        match = re.match(r"\(\?([a-zA-Z]+)\)", self.text)
        if match:
            unknown = set(match.group(1)) - _FLAGS
            if unknown:
                raise self.fail(f"the flag(s) {''.join(sorted(unknown))}")
            self.i = match.end()

    def _alternatives(self, top: bool) -> _Group:
        branches = [self._sequence(top)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self._sequence(top))
        return _Group(tuple(branches))

    def _sequence(self, top: bool) -> tuple[_Item, ...]:
        items: list[_Item] = []
        start = self.i
        while self.i < len(self.text) and self.peek() not in "|)":
            c = self.peek()
            if c == "^" or self.text.startswith("\\A", self.i):
                if not (top and self.i == start):
                    raise self.fail("an anchor that is not at the start")
                self.i += 1 if c == "^" else 2
                continue
            if c == "$" or self.text.startswith("\\Z", self.i):
                self.i += 1 if c == "$" else 2
                if not (top and self.peek() in ("", "|")):
                    raise self.fail("an anchor that is not at the end")
                continue
            if c in "*+?" or (c == "{" and self._quantifier_at(self.i)):
                raise self.fail("a quantifier with nothing to repeat")
            atom = self._atom()
            lo, hi = self._quantifier()
            items.append(_Item(atom, lo, hi))
        return tuple(items)

    def _atom(self) -> _Literal | _Class | _Group:
        c = self.peek()
        if c == "(":
            return self._group()
        if c == "[":
            return self._bracket()
        if c == ".":
            self.i += 1
            return _Class(np.array(sorted(_ALNUM), dtype=np.uint8))
        if c == "\\":
            members, negated = self._escape(in_class=False)
            if isinstance(members, str):
                return _Literal(members.encode())
            return _class(members, negated, "an escape")
        self.i += 1
        return _Literal(c.encode())

    def _group(self) -> _Group:
        self.i += 1
        if self.peek() == "?":
            if self.text.startswith("?:", self.i):
                self.i += 2
            elif self.text.startswith("?P<", self.i):
                end = self.text.find(">", self.i)
                if end < 0:
                    raise self.fail("an unterminated group name")
                self.i = end + 1
            else:
                raise self.fail(f"the group construct (?{self.peek(1)}")
        group = self._alternatives(top=False)
        if self.peek() != ")":
            raise self.fail("a group that is not closed")
        self.i += 1
        return group

    def _escape(self, in_class: bool) -> tuple[frozenset[int] | str, bool]:
        """An escape: (members, negated) for a class escape, (text, False) for a literal."""
        c = self.peek(1)
        if not c:
            raise self.fail("a trailing backslash")
        self.i += 2
        if c.lower() in _CLASSES:
            return _CLASSES[c.lower()], c.isupper()
        if c in _CONTROL:
            return _CONTROL[c], False
        if c in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[c]
            digits = self.text[self.i : self.i + width]
            if len(digits) != width or not all(d in string.hexdigits for d in digits):
                raise self.fail(f"a malformed \\{c} escape")
            self.i += width
            return chr(int(digits, 16)), False
        if c.isalnum():
            what = "a back reference" if c.isdigit() else f"the escape \\{c}"
            raise self.fail(what)
        return c, False

    def _bracket(self) -> _Class:
        self.i += 1
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        members: set[int] = set()
        first = True
        while True:
            c = self.peek()
            if not c:
                raise self.fail("a character class that is not closed")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            low = self._class_char()
            if isinstance(low, frozenset):
                members |= low
                continue
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                high = self._class_char()
                if isinstance(high, frozenset) or ord(high) < ord(low):
                    raise self.fail("a bad range in a character class")
                members |= set(range(ord(low), ord(high) + 1))
            else:
                members.add(ord(low))
        return _class(frozenset(members), negated, "a class")

    def _class_char(self) -> frozenset[int] | str:
        if self.peek() == "\\":
            members, negated = self._escape(in_class=True)
            if isinstance(members, str):
                return members
            return (_PRINTABLE - members) if negated else members
        c = self.peek()
        self.i += 1
        return c

    def _quantifier_at(self, i: int) -> re.Match[str] | None:
        # "{" starts a quantifier only when a whole {n}, {n,}, {,m} or {n,m} follows
        match = _BRACES.match(self.text, i)
        return match if match and (match.group(1) or match.group(2) is not None) else None

    def _quantifier(self) -> tuple[int, int]:
        c = self.peek()
        if c == "?":
            lo, hi = 0, 1
            self.i += 1
        elif c == "*":
            lo, hi = 0, MAX_EXTRA
            self.i += 1
        elif c == "+":
            lo, hi = 1, 1 + MAX_EXTRA
            self.i += 1
        elif c == "{" and (match := self._quantifier_at(self.i)):
            if not match.group(1):  # Python reads {,m} as {0,m}, RE2 (Arrow strings) as text
                raise self.fail("the quantifier {,m}, read differently by re and RE2 (write {0,m})")
            lo = int(match.group(1))
            if match.group(2) is None:
                hi = lo
            else:
                hi = int(match.group(3)) if match.group(3) else lo + MAX_EXTRA
            if hi < lo:
                raise self.fail("a quantifier {n,m} with m < n")
            self.i = match.end()
        else:
            return 1, 1
        if self.peek() == "?":  # lazy: the same strings match
            self.i += 1
        elif self.peek() == "+":
            raise self.fail("a possessive quantifier, which RE2 (Arrow strings) does not accept")
        return lo, hi


def _width(node: _Group | tuple[_Item, ...], longest: bool = True) -> int:
    """The longest (or shortest) string ``node`` draws, in bytes."""
    if isinstance(node, _Group):
        widths = [_width(alt, longest) for alt in node.alternatives]
        return (max if longest else min)(widths, default=0)
    total = 0
    for item in node:
        atom = item.atom
        size = len(atom.data) if isinstance(atom, _Literal) else 1
        each = _width(atom, longest) if isinstance(atom, _Group) else size
        total += each * (item.hi if longest else item.lo)
    return total


def _capacity(node: _Group | tuple[_Item, ...]) -> int:
    if isinstance(node, _Group):
        return min(_CAP, sum(_capacity(alt) for alt in node.alternatives))
    total = 1
    for item in node:
        atom = item.atom
        if isinstance(atom, _Literal):
            each = 1
        elif isinstance(atom, _Class):
            each = len(atom.options)
        else:
            each = _capacity(atom)
        ways = 0
        for k in range(item.lo, item.hi + 1):
            ways = min(_CAP, ways + min(_CAP, each**k) if each > 1 else ways + 1)
        total = min(_CAP, total * max(ways, 1))
    return total


_Block = tuple[np.ndarray, np.ndarray]  # (bytes, used) matrices of one shape (rows, width)


def _empty(n: int) -> _Block:
    return np.zeros((n, 0), dtype=np.uint8), np.zeros((n, 0), dtype=bool)


def _hstack(blocks: list[_Block], n: int) -> _Block:
    if not blocks:
        return _empty(n)
    if len(blocks) == 1:
        return blocks[0]
    return np.hstack([b for b, _ in blocks]), np.hstack([u for _, u in blocks])


def _draw_group(group: _Group, rng: np.random.Generator, n: int) -> _Block:
    """Each row's bytes for ``group``, left-aligned; ``used`` marks the bytes that count.

    Every part of the pattern has a fixed place in the matrix (as wide as its longest form),
    so the strings are the used bytes read row by row: no per-row cursor, no Python loop.
    """
    if len(group.alternatives) == 1:
        return _draw_sequence(group.alternatives[0], rng, n)
    width = _width(group)
    data = np.zeros((n, width), dtype=np.uint8)
    used = np.zeros((n, width), dtype=bool)
    choice = rng.integers(0, len(group.alternatives), size=n)
    for j, alternative in enumerate(group.alternatives):
        rows = np.flatnonzero(choice == j)
        part, mask = _draw_sequence(alternative, rng, len(rows))
        data[rows, : part.shape[1]] = part
        used[rows, : part.shape[1]] = mask
    return data, used


def _draw_sequence(items: tuple[_Item, ...], rng: np.random.Generator, n: int) -> _Block:
    blocks: list[_Block] = []
    for item in items:
        counts = (
            np.full(n, item.lo)
            if item.lo == item.hi
            else rng.integers(item.lo, item.hi + 1, size=n)
        )
        atom = item.atom
        if isinstance(atom, _Group):
            for k in range(item.hi):
                part, mask = _draw_group(atom, rng, n)
                blocks.append((part, mask & (counts > k)[:, None]))
        elif isinstance(atom, _Literal):
            size = len(atom.data)
            row = np.frombuffer(atom.data * item.hi, dtype=np.uint8)
            blocks.append(
                (
                    np.broadcast_to(row, (n, len(row))),
                    np.arange(len(row)) < (counts * size)[:, None],
                )
            )
        else:
            picks = rng.integers(0, len(atom.options), size=(n, item.hi), dtype=np.uint8)
            blocks.append((atom.options[picks], np.arange(item.hi) < counts[:, None]))
    return _hstack(blocks, n)


class StringPattern:
    """A parsed pattern that draws matching strings.

    Attributes:
        pattern: the pattern as written.
        width: the longest string it draws, in bytes.
        shortest: the shortest string it draws, in bytes.
        capacity: how many distinct strings it can draw (capped at 2**62).
    """

    def __init__(self, pattern: str) -> None:
        """Parse ``pattern``.

        Raises:
            RegexUnsupported: the pattern uses syntax outside the subset.
        """
        self.pattern = pattern
        self._root = _Parser(pattern).parse()
        self.width = _width(self._root)
        self.shortest = _width(self._root, longest=False)
        self.capacity = _capacity(self._root)

    def draw(self, rng: np.random.Generator, n: int) -> pa.LargeStringArray:
        """``n`` strings matching the pattern, as an Arrow array."""
        data, used = _draw_group(self._root, rng, n)
        flat = np.ascontiguousarray(data)[used]  # row-major: the strings one after another
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(used.sum(axis=1), out=offsets[1:])
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(flat))
