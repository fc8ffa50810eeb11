"""Python regular-expression syntax to RE2 syntax with Python's meaning.

Owns the translation that lets `/regex/` terms, written in Python's `re`
syntax, run on RE2 (linear time) and still mean what Python means. The
pattern is parsed by the standard library's own parser (`re._parser`, so
the syntax and error messages are exactly `re`'s) and written back out for
RE2, node by node:

- `\\w`, `\\d`, `\\s` and their negations become Unicode classes
  (`[\\p{L}\\p{N}_]`, `\\p{Nd}`, the characters `str.isspace` accepts): RE2's
  own are ASCII-only, Python's are not (unless the pattern says `(?a)`).
- `\\b` and `\\B` are ASCII-only in RE2 too, and RE2 has no look-around to
  build a Unicode one. Inside the pattern, where the characters on both
  sides are known to be word or non-word characters, the assertion is
  decided here (`foo\\b-bar`: always true). At the very start or end of the
  pattern it is emulated by consuming one character of context outside a
  capturing group (`(?:\\A|[^\\w])(...)`): the caller takes group 1 and
  restarts the next search one character early, so context characters may
  be shared between matches as in Python. Python's `$` (end of text, or
  before a final newline) is emulated the same way at the end.
- Everything else RE2 lacks — backreferences, look-around, possessive and
  atomic groups, conditionals, repeats above 1000, a `\\b` whose sides
  cannot be known, patterns that can match empty text — raises
  `Unsupported` with a reason a user can act on; the caller decides whether
  such a pattern may run on the bounded fallback engine.

`re._parser` is private API, but it is the parser `re` itself uses; it is
only imported here.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]

try:
    from re import _casefix  # type: ignore[attr-defined]

    _EXTRA_CASES: dict[int, tuple[int, ...]] = _casefix._EXTRA_CASES
except ImportError:  # pragma: no cover - Python < 3.11
    _EXTRA_CASES = {}

MAX_REPEAT = 1000  # RE2's limit on {n,m}

# Kinds of the character on one side of a position: a word character, a
# non-word character (the start and end of the text count as these), or
# "outside the pattern" (not known while translating).
W, N, OUT = "w", "n", "out"
Kinds = frozenset[str]
_W: Kinds = frozenset([W])
_N: Kinds = frozenset([N])
_WN: Kinds = frozenset([W, N])
_OUT: Kinds = frozenset([OUT])
_NONE: Kinds = frozenset()

WORD = r"\p{L}\p{N}_"  # Python's str \w: str.isalnum() or "_"
WORD_CLASS = f"[{WORD}]"
NON_WORD_CLASS = f"[^{WORD}]"
NEVER = r"[^\x00-\x{10FFFF}]"  # matches nothing
_AT_START = rf"(?:\A|{NON_WORD_CLASS})"  # the start of the text, or a non-word character


class Unsupported(Exception):
    """A pattern RE2 cannot run with Python's meaning; `reason` says why, e.g.
    "uses a backreference (\\1)"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Translation:
    """RE2 pattern text; the match is group `group` (1 when context is consumed
    around it, see the module docstring); `context` says the search must
    restart one character before the previous match's end, with `restart`
    (the pattern without its start-of-text alternative, which must not match
    again when that character is the first one)."""

    pattern: str
    group: int
    context: bool
    restart: str | None = None  # the pattern for every search after the first, when it differs


# --- a small tree with flags resolved ------------------------------------------


@dataclass(frozen=True)
class Char:
    """One character: RE2 text and the kinds of character it can match."""

    text: str
    kinds: Kinds


@dataclass(frozen=True)
class Zero:
    """A zero-width assertion: "b", "B", "dollar" (Python's `$` without
    MULTILINE) need work; "native" ones are RE2 `text` as is."""

    kind: str
    text: str = ""


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    branches: tuple[Node, ...]


@dataclass(frozen=True)
class Rep:
    item: Node
    lo: int
    hi: int | None  # None: no upper bound
    lazy: bool


Node = Char | Zero | Seq | Alt | Rep


def translate(body: str, flags: int) -> Translation:
    """`body` (Python syntax, `flags` as for `re.compile`) for RE2.

    Raises `re.error` for a pattern `re` rejects, RecursionError for one
    nested too deeply, and `Unsupported` for one RE2 cannot run as Python
    would.
    """
    tree = _parser.parse(body, flags)
    if tree.getwidth()[0] == 0:
        raise Unsupported("can match empty text (RE2 cannot skip empty matches as Python does)")
    top = tree.state.flags
    converter = _Converter()
    root = _flatten(converter.seq(list(tree), top))
    assert isinstance(root, Seq)
    items = list(root.items)
    # Assertions at the very start and end come out of the body: \b, \B and
    # `$` to be emulated with context, the others kept (zero-width, so their
    # order among themselves does not matter).
    lead: list[str] = []
    natives: list[Node] = []
    while items:
        head = items[0]
        if isinstance(head, Zero) and head.kind != "dollar":
            if head.kind == "native":
                natives.append(head)
            else:
                lead.append(head.kind)
            items.pop(0)
            continue
        kind, rest = _pop_edge(head, 0, ("b", "B"))
        if kind is None:
            break
        lead.append(kind)
        items[0] = rest
    items = [*natives, *items]
    trail: list[str] = []
    natives = []
    while items:
        tail = items[-1]
        if isinstance(tail, Zero) and tail.kind != "native":
            trail.append(tail.kind)
            items.pop()
            continue
        if isinstance(tail, Zero):
            natives.insert(0, tail)
            items.pop()
            continue
        kind, rest = _pop_edge(tail, -1, ("b", "B", "dollar"))
        if kind is None:
            break
        trail.append(kind)
        items[-1] = rest
    body_node = _flatten(Seq((*items, *natives)))
    shape = _Shape()
    first, _ = shape.first(body_node)
    last, _ = shape.last(body_node)
    prefix, left = _prefix(set(lead), first)
    suffix, right = _suffix(set(trail), last)
    text = _Emitter(shape).emit(body_node, left, right)
    if prefix or suffix:
        pattern = f"{prefix}({text}){suffix}"
        restart = pattern.replace(_AT_START, NON_WORD_CLASS, 1) if prefix == _AT_START else None
        return Translation(pattern, 1, bool(prefix), restart)
    return Translation(text, 0, False)


# --- from re's parse tree ------------------------------------------------------


def _esc(code: int) -> str:
    if 0xD800 <= code <= 0xDFFF:
        raise Unsupported("contains a lone surrogate character")
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:X}}}"


def _members(codes: Iterable[int]) -> str:
    """Class members for `codes`, runs written as ranges."""
    out: list[str] = []
    ordered = sorted(set(codes))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        lo, hi = ordered[i], ordered[j]
        out.append(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}")
        i = j + 1
    return "".join(out)


def _one(codes: list[int]) -> str:
    return _esc(codes[0]) if len(codes) == 1 else f"[{_members(codes)}]"


def _is_word(code: int) -> bool:
    ch = chr(code)
    return ch.isalnum() or ch == "_"


def _kinds(codes: Iterable[int]) -> Kinds:
    return frozenset(W if _is_word(code) else N for code in codes)


@functools.cache
def _space_class() -> str:
    """Python's str `\\s`: every character `str.isspace` accepts."""
    return _members(c for c in range(0x110000) if chr(c).isspace())


_ASCII_SPACE = r"\t\n\x0B\f\r "


@functools.cache
def _lower_groups() -> dict[int, tuple[int, ...]]:
    """For each lower-case code point, the others `re` lowers to it."""
    groups: dict[int, list[int]] = {}
    for code in range(0x110000):
        lower = _sre.unicode_tolower(code)
        if lower != code:
            groups.setdefault(lower, []).append(code)
    return {lower: tuple(codes) for lower, codes in groups.items()}


def _variants(code: int, ascii_only: bool = False) -> list[int]:
    """Every character `re` matches `code` with under IGNORECASE: those whose
    lower case is `code`'s, or one of its extra cases (`ſ` for `s`). Spelled
    out rather than left to RE2's case folding, which differs (`İ` and `i`).
    With ASCII, only ASCII letters have cases."""
    if ascii_only:
        ch = chr(code)
        return sorted({code, ord(ch.lower()), ord(ch.upper())}) if ch.isascii() and ch.isalpha() else [code]
    lower = _sre.unicode_tolower(code)
    keys = (lower, *_EXTRA_CASES.get(lower, ()))
    out = set(keys)
    groups = _lower_groups()
    for key in keys:
        out.update(groups.get(key, ()))
    return sorted(out)


WIDE = 4096  # a range under IGNORECASE wider than this is left to RE2's case folding


class _Converter:
    """re's parse tree to `Node`s, flags resolved into each leaf."""

    def seq(self, items: list[tuple[object, object]], flags: int) -> Seq:
        return Seq(tuple(self.node(op, av, flags) for op, av in items))

    def node(self, op: object, av: object, flags: int) -> Node:
        icase = bool(flags & C.SRE_FLAG_IGNORECASE)
        ascii_only = bool(flags & C.SRE_FLAG_ASCII)
        if op is C.LITERAL or op is C.NOT_LITERAL:
            assert isinstance(av, int)
            codes = _variants(av, ascii_only) if icase else [av]
            if op is C.NOT_LITERAL:
                return Char(f"[^{_members(codes)}]", _WN)
            return Char(_one(codes), _kinds(codes))
        if op is C.ANY:
            return Char("(?s:.)" if flags & C.SRE_FLAG_DOTALL else ".", _WN)
        if op is C.IN:
            assert isinstance(av, list)
            text, kinds = self.char_set(av, flags)
            return Char(text, kinds)
        if op is C.AT:
            return self.at(av, flags)
        if op is C.BRANCH:
            assert isinstance(av, tuple)
            return Alt(tuple(self.seq(list(branch), flags) for branch in av[1]))
        if op is C.SUBPATTERN:
            assert isinstance(av, tuple)
            _group, add, remove, sub = av
            return self.seq(list(sub), (flags | add) & ~remove)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            assert isinstance(av, tuple)
            lo, hi, sub = av
            if lo > MAX_REPEAT or (hi is not C.MAXREPEAT and hi > MAX_REPEAT):
                raise Unsupported(f"repeats something more than {MAX_REPEAT} times")
            return Rep(self.seq(list(sub), flags), lo, None if hi is C.MAXREPEAT else hi, op is C.MIN_REPEAT)
        explain = _UNSUPPORTED.get(op)
        raise Unsupported(explain(av) if explain else f"uses {op}")

    def at(self, code: object, flags: int) -> Zero:
        multiline = flags & C.SRE_FLAG_MULTILINE
        ascii_only = flags & C.SRE_FLAG_ASCII
        if code is C.AT_BEGINNING:
            return Zero("native", "(?m:^)" if multiline else r"\A")
        if code is C.AT_BEGINNING_STRING:
            return Zero("native", r"\A")
        if code is C.AT_END:
            return Zero("native", "(?m:$)") if multiline else Zero("dollar")
        if code is C.AT_END_STRING:
            return Zero("native", r"\z")
        if code is C.AT_BOUNDARY:
            return Zero("native", r"\b") if ascii_only else Zero("b")
        if code is C.AT_NON_BOUNDARY:
            return Zero("native", r"\B") if ascii_only else Zero("B")
        raise Unsupported(f"uses {code}")  # pragma: no cover - the parser makes no others

    def char_set(self, items: list[tuple[object, object]], flags: int) -> tuple[str, Kinds]:
        """RE2 text for a `[...]` (or `\\w`, `\\d`, `\\s`), and the kinds it matches."""
        icase = bool(flags & C.SRE_FLAG_IGNORECASE)
        ascii_only = bool(flags & C.SRE_FLAG_ASCII)
        negate = bool(items) and items[0][0] is C.NEGATE
        if negate:
            items = items[1:]
        codes: set[int] = set()  # single characters, with their case variants
        plain: list[str] = []  # other class members RE2 can list: ranges, \w \d \s
        wide: list[str] = []  # ranges too wide to spell out under IGNORECASE
        negated: list[object] = []  # \W, \D, \S: complements, not members
        kinds: set[str] = set()
        for op, av in items:
            if op is C.LITERAL:
                assert isinstance(av, int)
                codes.update(_variants(av, ascii_only) if icase else [av])
            elif op is C.RANGE:
                assert isinstance(av, tuple)
                lo, hi = av
                if hi - lo > WIDE:
                    (wide if icase else plain).append(f"{_esc(lo)}-{_esc(hi)}")
                    kinds |= _WN
                elif icase:
                    codes.update(v for code in range(lo, hi + 1) for v in _variants(code, ascii_only))
                else:
                    plain.append(f"{_esc(lo)}-{_esc(hi)}")
                    kinds |= _kinds(range(lo, hi + 1))
            elif op is C.CATEGORY:
                if av in (C.CATEGORY_WORD, C.CATEGORY_DIGIT, C.CATEGORY_SPACE):
                    plain.append(_category(av, ascii_only))
                    kinds |= _N if av is C.CATEGORY_SPACE else _W
                else:
                    negated.append(av)
                    kinds |= _N if av is C.CATEGORY_NOT_WORD else _WN
            else:  # pragma: no cover - the parser puts nothing else in a set
                raise Unsupported(f"uses {op} in a character set")
        kinds |= _kinds(codes)
        plain.insert(0, _members(codes))
        members = "".join(plain)
        if wide and (negate or negated):
            raise Unsupported(f"uses a negated set with a range wider than {WIDE} characters, ignoring case")
        if not negate:
            parts = [f"[^{_category(_POSITIVE[cat], ascii_only)}]" for cat in negated]
            if members:
                parts.append(f"[{members}]")
            if wide:
                parts.append(f"(?i:[{''.join(wide)}])")
            if not parts:  # pragma: no cover - the parser refuses an empty set
                parts.append(NEVER)
            return (parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"), frozenset(kinds)
        if not negated:
            # All word characters excluded ([^\w...]): only non-word ones are left.
            return f"[^{members}]", _N if (C.CATEGORY, C.CATEGORY_WORD) in items else _WN
        # [^\W...]: word characters minus the rest, which RE2 can only write
        # when the rest is digits and/or "_".
        if negated == [C.CATEGORY_NOT_WORD] and not ascii_only:
            rest = {op_av for op_av in items if op_av[1] is not C.CATEGORY_NOT_WORD}
            digits = (C.CATEGORY, C.CATEGORY_DIGIT) in rest
            underscore = (C.LITERAL, ord("_")) in rest
            if len(rest) == digits + underscore:
                members = r"\p{L}" + (r"\p{Nl}\p{No}" if digits else r"\p{N}") + ("" if underscore else "_")
                return f"[{members}]", _W
        if len(negated) == 1 and not members:
            return f"[{_category(_POSITIVE[negated[0]], ascii_only)}]", _W if negated[0] is C.CATEGORY_NOT_WORD else _WN
        raise Unsupported("uses a negated set with \\W, \\D or \\S and other members, which RE2 cannot write")


_POSITIVE = {
    C.CATEGORY_NOT_WORD: C.CATEGORY_WORD,
    C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT,
    C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE,
}


def _category(cat: object, ascii_only: bool) -> str:
    """Class members (no brackets) for \\w, \\d or \\s."""
    if cat is C.CATEGORY_WORD:
        return "0-9A-Za-z_" if ascii_only else WORD
    if cat is C.CATEGORY_DIGIT:
        return "0-9" if ascii_only else r"\p{Nd}"
    return _ASCII_SPACE if ascii_only else _space_class()


def _lookaround(av: object) -> str:
    assert isinstance(av, tuple)
    return "look-ahead (?=…)" if av[0] == 1 else "look-behind (?<=…)"


def _negative_lookaround(av: object) -> str:
    assert isinstance(av, tuple)
    return "negative look-ahead (?!…)" if av[0] == 1 else "negative look-behind (?<!…)"


_UNSUPPORTED: dict[object, Callable[[object], str]] = {
    C.GROUPREF: lambda av: "uses a backreference (\\1 or (?P=name))",
    C.GROUPREF_EXISTS: lambda av: "uses a conditional group (?(1)…|…)",
    C.ASSERT: lambda av: "uses a " + _lookaround(av),
    C.ASSERT_NOT: lambda av: "uses a " + _negative_lookaround(av),
    C.POSSESSIVE_REPEAT: lambda av: "uses a possessive quantifier (*+, ++, ?+, {m,n}+)",
    C.ATOMIC_GROUP: lambda av: "uses an atomic group (?>…)",
}


def _flatten(node: Node) -> Node:
    """Sequences inside sequences spliced in (a group is just its items)."""
    if isinstance(node, Seq):
        out: list[Node] = []
        for item in node.items:
            item = _flatten(item)
            if isinstance(item, Seq):
                out.extend(item.items)
            else:
                out.append(item)
        return Seq(tuple(out))
    if isinstance(node, Alt):
        return Alt(tuple(_flatten(branch) for branch in node.branches))
    if isinstance(node, Rep):
        return Rep(_flatten(node.item), node.lo, node.hi, node.lazy)
    return node


def _pop_edge(node: Node, end: int, kinds: tuple[str, ...]) -> tuple[str | None, Node]:
    """An assertion every way through `node` starts (end 0) or ends (end -1)
    with, and `node` without it; (None, node) when there is none."""
    if isinstance(node, Zero):
        return (node.kind, Seq(())) if node.kind in kinds else (None, node)
    if isinstance(node, Seq):
        if not node.items:
            return None, node
        kind, rest = _pop_edge(node.items[end], end, kinds)
        if kind is None:
            return None, node
        items = list(node.items)
        items[end] = rest
        return kind, _flatten(Seq(tuple(items)))
    if isinstance(node, Alt):
        popped = [_pop_edge(branch, end, kinds) for branch in node.branches]
        first = popped[0][0]
        if first is None or any(kind != first for kind, _ in popped):
            return None, node
        return first, Alt(tuple(rest for _, rest in popped))
    return None, node


# --- what can come first and last --------------------------------------------------


class _Shape:
    """The kinds of character a node can start / end with, and whether it can
    match empty text; memoised per node, so translation stays linear."""

    def __init__(self) -> None:
        self._first: dict[int, tuple[Kinds, bool]] = {}
        self._last: dict[int, tuple[Kinds, bool]] = {}

    def first(self, node: Node) -> tuple[Kinds, bool]:
        return self._edge(node, self._first, False)

    def last(self, node: Node) -> tuple[Kinds, bool]:
        return self._edge(node, self._last, True)

    def _edge(self, node: Node, memo: dict[int, tuple[Kinds, bool]], backwards: bool) -> tuple[Kinds, bool]:
        found = memo.get(id(node))
        if found is not None:
            return found
        result: tuple[Kinds, bool]
        if isinstance(node, Char):
            result = (node.kinds, False)
        elif isinstance(node, Zero):
            result = (_NONE, True)
        elif isinstance(node, Seq):
            kinds: set[str] = set()
            empty = True
            for item in reversed(node.items) if backwards else node.items:
                k, e = self._edge(item, memo, backwards)
                kinds |= k
                if not e:
                    empty = False
                    break
            result = (frozenset(kinds), empty)
        elif isinstance(node, Alt):
            parts = [self._edge(branch, memo, backwards) for branch in node.branches]
            result = (frozenset().union(*(k for k, _ in parts)), any(e for _, e in parts))
        else:
            k, e = self._edge(node.item, memo, backwards)
            result = (k, e or node.lo == 0)
        memo[id(node)] = result
        return result


# --- writing RE2 ----------------------------------------------------------------------


class _Emitter:
    def __init__(self, shape: _Shape) -> None:
        self.shape = shape

    def emit(self, node: Node, left: Kinds, right: Kinds) -> str:
        """RE2 text for `node`, given the kinds of character that can stand
        just before it (`left`) and just after it (`right`)."""
        if isinstance(node, Char):
            return node.text
        if isinstance(node, Zero):
            return self.zero(node, left, right)
        if isinstance(node, Seq):
            return self.seq(node, left, right)
        if isinstance(node, Alt):
            return "(?:" + "|".join(self.emit(branch, left, right) for branch in node.branches) + ")"
        if node.hi is None or node.hi > 1:
            if self.shape.first(node.item)[1]:
                # Backtracking engines and RE2 treat empty repetitions differently.
                raise Unsupported("repeats a part that can match empty text, like (a*)+")
            # The previous or next repetition may stand on either side.
            left = left | self.shape.last(node.item)[0]
            right = right | self.shape.first(node.item)[0]
        body = self.emit(node.item, left, right)
        if node.hi is None:
            quant = {0: "*", 1: "+"}.get(node.lo, f"{{{node.lo},}}")
        elif node.lo == 0 and node.hi == 1:
            quant = "?"
        elif node.lo == node.hi:
            quant = f"{{{node.lo}}}"
        else:
            quant = f"{{{node.lo},{node.hi}}}"
        return f"(?:{body}){quant}{'?' if node.lazy else ''}"

    def seq(self, node: Seq, left: Kinds, right: Kinds) -> str:
        items = node.items
        lefts: list[Kinds] = []
        ctx = left
        for item in items:
            lefts.append(ctx)
            k, empty = self.shape.last(item)
            ctx = k | ctx if empty else k
        rights: list[Kinds] = [_NONE] * len(items)
        ctx = right
        for i in range(len(items) - 1, -1, -1):
            rights[i] = ctx
            k, empty = self.shape.first(items[i])
            ctx = k | ctx if empty else k
        return "".join(self.emit(item, lefts[i], rights[i]) for i, item in enumerate(items))

    def zero(self, node: Zero, left: Kinds, right: Kinds) -> str:
        if node.kind == "native":
            return node.text
        if node.kind == "dollar":
            raise Unsupported(
                "uses $ inside the pattern (Python's $ also matches before a final newline, which RE2 can "
                "only check at the very end; use \\Z or (?m)$)"
            )
        if len(left) == 1 and len(right) == 1 and OUT not in left | right:
            boundary = left != right
            holds = boundary if node.kind == "b" else not boundary
            return "" if holds else NEVER
        raise Unsupported(
            f"uses \\{node.kind} where the characters on both sides are not known to be letters/digits or "
            "not (RE2's own \\b is ASCII-only; it can be emulated only next to known characters or at the "
            "ends of the pattern)"
        )


def _prefix(lead: set[str], first: Kinds) -> tuple[str, Kinds]:
    """Context to consume before the match for leading \\b / \\B, and what then
    stands on the match's left."""
    if not lead:
        return "", _OUT
    if len(first) != 1:
        raise Unsupported(
            "starts with \\b or \\B before something that may or may not be a letter or digit "
            "(RE2's own \\b is ASCII-only)"
        )
    # Previous character must be: a word character (W) or not (N, or the start).
    wants = {(N if first == _W else W) if kind == "b" else (W if first == _W else N) for kind in lead}
    if len(wants) > 1:
        return NEVER, _N
    if wants == {W}:
        return WORD_CLASS, _W
    return _AT_START, _N


def _suffix(trail: set[str], last: Kinds) -> tuple[str, Kinds]:
    """Context to consume after the match for trailing \\b, \\B and `$`."""
    if not trail:
        return "", _OUT
    bounds = trail - {"dollar"}
    if bounds and len(last) != 1:
        raise Unsupported(
            "ends with \\b or \\B after something that may or may not be a letter or digit "
            "(RE2's own \\b is ASCII-only)"
        )
    wants = {(N if last == _W else W) if kind == "b" else (W if last == _W else N) for kind in bounds}
    if "dollar" in trail:
        # The end of the text, or a final newline, is never a word character.
        if W in wants:
            return NEVER, _N
        return r"(?:\n?\z)", _N
    if len(wants) > 1:
        return NEVER, _N
    if wants == {W}:
        return WORD_CLASS, _W
    return rf"(?:{NON_WORD_CLASS}|\z)", _N


def python_flags(ignorecase: bool) -> int:
    """The `re` flags a query's regex is compiled with."""
    return re.IGNORECASE if ignorecase else re.NOFLAG
