"""Read YAML into plain data, safely, and find the line of any value when an error needs it.

Two readers give the same data:

- the fast one (libyaml present): libyaml's event stream built straight into dicts and lists,
  remembering only where each mapping and list starts (``Account.line`` needs a list item's
  line on every run);
- the exact one: PyYAML's node graph, every node with its position, built from libyaml's events
  or, without libyaml, by PyYAML's pure-Python parser.

The fast reader leaves anything unusual (an error, an explicit tag, a duplicate key, a
suspicious alias) to the exact one, which produces the message. A line that the fast reader did
not keep is found by running the exact reader once, the first time an error message needs one.
A YAML syntax error is always reported by the pure-Python parser, whose wording the messages
have always used.

Both readers refuse hostile documents before building anything from them: aliases that would
repeat more than ``MAX_ALIAS_EXPANSION`` values (a "billion laughs" bomb), an alias inside the
value its anchor names, nesting deeper than ``MAX_DEPTH``, and duplicate mapping keys (which
YAML forbids and PyYAML would silently resolve as "last one wins"). Merge keys (``<<: *base``)
follow the YAML merge-key specification, whichever PyYAML is installed.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from metpost.characters import SURROGATE, one_line

FieldPath = tuple[str | int, ...]

# Values that aliases may add to a document, counted as the document would be if every alias
# were written out. A 10,000-account config that merges a 50-key defaults mapping into every
# account adds about 1,000,000; a 400-byte alias bomb adds billions.
MAX_ALIAS_EXPANSION = 2_000_000
# accounts.yaml nests four levels deep; the exact reader's composer recurses, so the bound stays
# well below Python's recursion limit.
MAX_DEPTH = 100

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
# Scalar tags the fast reader builds itself (with PyYAML's own constructors).
_SCALAR_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in
                         ("str", "int", "float", "bool", "null", "timestamp", "binary"))
_KINDS = {"tag:yaml.org,2002:int": "a number", "tag:yaml.org,2002:float": "a number",
          "tag:yaml.org,2002:timestamp": "a date", "tag:yaml.org,2002:bool": "true/false"}


def field_name(path: FieldPath) -> str:
    """``("accounts", 3, "platform")`` as people write it: ``accounts[3].platform``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass(frozen=True)
class YamlProblem:
    """One reason a text could not be read: its 1-based line, message, and the field, if any."""

    line: int
    message: str
    field: FieldPath | None = None


class YamlSyntaxError(Exception):
    """The text cannot be read as YAML data; ``line`` and ``message`` are the first problem's."""

    def __init__(self, message: str, line: int, field: FieldPath | None = None,
                 more: tuple[YamlProblem, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.problems = (YamlProblem(line, message, field), *more)


class _LineIndex(Protocol):
    def line_of(self, path: FieldPath) -> int: ...


class YamlDocument:
    """A parsed YAML document: its data, and the 1-based line of any value in it."""

    def __init__(self, data: Any, lines: _LineIndex) -> None:
        self.data = data
        self._lines = lines

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path`` (a mapping key's own line), or of its nearest ancestor."""
        return self._lines.line_of(path)


def parse_yaml(text: str, line_offset: int = 0) -> YamlDocument:
    """Parse ``text``; ``line_offset`` is added to every line (for YAML embedded in a file)."""
    with _collector_paused():
        if yaml.__with_libyaml__:
            try:
                data, start_lines = _read_fast(text, line_offset)
            except _LeftToExactReader:
                document = _read_exact(text, line_offset, libyaml=True)
            except yaml.YAMLError:
                document = _read_exact(text, line_offset, libyaml=False)
            else:
                document = YamlDocument(data, _FastLines(text, line_offset, data, start_lines))
        else:
            document = _read_exact(text, line_offset, libyaml=False)
    if "\\u" in text or "\\U" in text:  # only an escape can give half a character
        _refuse_surrogates(document)
    return document


def _refuse_surrogates(document: YamlDocument) -> None:
    """A string that an escape made half a character (``"\\ud83d\\ude00"``: YAML reads each
    escape as a character of its own, where JSON would pair them) can be neither shown nor
    sent: refused, with its line and field, saying how to write it."""
    problems = [YamlProblem(document.line_of(path), f"holds half a character ({escape}): write "
                            "the character itself, or one \\U escape of eight digits, as "
                            "\\U0001F600", path)
                for path, escape in _surrogates(document.data, ())]
    if problems:
        first, *more = problems
        raise YamlSyntaxError(first.message, first.line, first.field, tuple(more))


def _surrogates(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    """Where in ``value`` a string (or a mapping's key) holds a lone surrogate, and which."""
    if isinstance(value, str):
        if found := SURROGATE.search(value):
            yield path, f"\\u{ord(found[0]):04x}"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _surrogates(key, (*path, key))
            yield from _surrogates(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _surrogates(item, (*path, index))


# The largest YAML file read: a config of 100,000 accounts is about 40 MB.
MAX_YAML_BYTES = 256 << 20


class YamlTooBig(ValueError):
    """A YAML file over ``MAX_YAML_BYTES``."""


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse a YAML file (raises OSError, NotAFileError for a pipe, device or folder,
    YamlTooBig, UnicodeDecodeError or YamlSyntaxError)."""
    from metpost.files import read_regular_file

    data = read_regular_file(path, MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise YamlTooBig(f"over {MAX_YAML_BYTES >> 20} MB")
    # Lines end as read_text would end them (universal newlines): CRLF and a lone CR are LF.
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    return parse_yaml(text)


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Building a large document makes the cyclic garbage collector run again and again over
    # everything built so far (more than half of libyaml's own load time for 10,000 accounts);
    # a parse leaves no cycles to collect, so the collector waits until it is done.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- hostile documents: the messages both readers give ---------------------------------------


def _line(mark: Any, offset: int) -> int:
    return int(mark.line) + 1 + offset


def _too_deep(mark: Any, offset: int) -> YamlSyntaxError:
    return YamlSyntaxError(f"nested more than {MAX_DEPTH} levels deep; a config needs only a "
                           "few, so look for brackets or indentation gone astray",
                           _line(mark, offset))


def _recursive_alias(anchor: str, alias_mark: Any, anchor_mark: Any,
                     offset: int) -> YamlSyntaxError:
    name = one_line(anchor)
    return YamlSyntaxError(f"recursive alias: *{name} is inside the value that &{name} names "
                           f"(line {_line(anchor_mark, offset)}), so it never ends; point the "
                           "alias at something outside that value", _line(alias_mark, offset))


def _aliases_expand_too_far(anchor: str, mark: Any, offset: int) -> YamlSyntaxError:
    return YamlSyntaxError(f"aliases expand too far: with *{one_line(anchor)} the document's "
                           f"aliases would repeat more than {MAX_ALIAS_EXPANSION:,} values (each "
                           "alias copies everything under its anchor, nested aliases included); "
                           "write the values out or use fewer, shallower aliases",
                           _line(mark, offset))


def _duplicate_key(key: ScalarNode, first: ScalarNode, offset: int) -> YamlProblem:
    if key.tag == _MERGE:
        fix = "merge several mappings with one key, as <<: [*first, *second]"
    else:
        fix = "a key may appear once in a mapping: keep one of them"
    return YamlProblem(_line(key.start_mark, offset),
                       f"duplicate key '{one_line(key.value)}' (first at line "
                       f"{_line(first.start_mark, offset)}); {fix}")


def _syntax_error(error: yaml.YAMLError, text: str, offset: int) -> YamlSyntaxError:
    if isinstance(error, ReaderError) and isinstance(error.character, int):
        return _forbidden_character(error.character, error.position, text, offset)
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line = (mark.line + 1 if mark else 1) + offset
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return YamlSyntaxError(f"invalid YAML: {problem}", line)


# Where a line ends, as PyYAML's reader counts lines (a lone CR is read as LF by read_text).
_LINE_BREAKS = frozenset("\n\x85\u2028\u2029")


def _forbidden_character(code: int, position: int, text: str, offset: int) -> YamlSyntaxError:
    """A character YAML allows nowhere, not even quoted (a NUL, a BEL, U+FFFE), at ``position``.

    PyYAML's reader checks the whole text before parsing, and says only where the character is
    as an offset into the text: its line and column are counted here, as PyYAML counts lines.
    The character is named by its code, never shown: a terminal would act on it.
    """
    before = text[:position]
    line_start = max((before.rfind(mark) for mark in _LINE_BREAKS), default=-1) + 1
    if line_start == 0 and text.startswith("\ufeff"):
        line_start = 1  # a byte order mark, which no editor shows
    line = sum(before.count(mark) for mark in _LINE_BREAKS) + 1 + offset
    kind = ("a control character" if code < 0x20 or 0x7F <= code <= 0x9F
            else "a character")
    return YamlSyntaxError(f"column {position - line_start + 1} holds {kind} (#x{code:02x}) "
                           "that YAML does not allow; remove it", line)


# -- the fast reader: libyaml's events straight into data --------------------------------------


class _LeftToExactReader(Exception):
    """The document has something the fast reader leaves to the exact reader."""


_NO_KEY = object()  # a mapping waiting for its next key
_MERGE_KEY = object()  # the key just read was '<<'
_NO_MERGE = object()  # the mapping has no '<<' (which may merge None, and fail)


def _read_fast(text: str, offset: int) -> tuple[Any, dict[int, int]]:
    """The document's data, and the line where each of its mappings and lists starts (by id).

    Raises _LeftToExactReader for anything the exact reader should decide (and word), and
    yaml.YAMLError for a syntax error.
    """
    loader = yaml.CSafeLoader(text)
    try:
        return _FastReader(loader, offset).read()
    finally:
        loader.dispose()


class _FastReader:
    """One pass over libyaml's events, with the exact reader's checks but not its messages."""

    def __init__(self, loader: Any, offset: int) -> None:
        self.loader = loader
        self.offset = offset
        resolvers = loader.yaml_implicit_resolvers
        # A plain scalar starting with any other character is a string (unless a resolver
        # matches every first character, as None).
        self.may_not_be_text: Callable[[str], bool] = (
            (lambda value: True) if None in resolvers else frozenset(resolvers).__contains__)

    def read(self) -> tuple[Any, dict[int, int]]:
        get_event = self.loader.get_event
        if type(get_event()) is not StreamStartEvent:
            raise _LeftToExactReader
        event = get_event()
        if type(event) is StreamEndEvent:
            return None, {}
        if type(event) is not DocumentStartEvent:
            raise _LeftToExactReader
        data, start_lines = self.document(get_event)
        if type(get_event()) is not StreamEndEvent:
            raise _LeftToExactReader  # a second document: the exact reader says so
        return data, start_lines

    def document(self, get_event: Callable[[], Any]) -> tuple[Any, dict[int, int]]:
        # One loop over every event: this is the hot path of a large config, so the state of
        # the innermost open mapping or list lives in local variables, not in objects.
        may_not_be_text = self.may_not_be_text
        resolve = self.loader.resolve
        offset = self.offset
        start_lines: dict[int, int] = {}
        anchors: dict[str, Any] = {}
        sizes: dict[str, int] = {}  # anchor -> values under it, aliases written out
        open_anchors: dict[str, int] = {}  # anchor of an unfinished collection -> count at start
        nodes = repeated = 0
        stack: list[tuple[Any, bool, Any, Any, str | None]] = []
        container: Any = None
        in_mapping = False
        key: Any = _NO_KEY
        merge_from: Any = _NO_MERGE  # what '<<' merges into the innermost mapping
        anchor: str | None = None  # the innermost collection's anchor
        root: Any = None
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                nodes += 1
                value = event.value
                tag = event.tag
                if tag is None:
                    tag = (resolve(ScalarNode, value, event.implicit)
                           if event.implicit[0] and may_not_be_text(value[:1]) else _STR)
                elif tag == "!":
                    tag = resolve(ScalarNode, value, event.implicit)
                if tag == _STR:
                    item = value
                elif in_mapping and key is _NO_KEY and tag in (_MERGE, _VALUE):
                    item = _MERGE_KEY if tag == _MERGE else value
                else:
                    item = self.scalar(tag, event)
                if event.anchor is not None:
                    if event.anchor in anchors or tag in (_MERGE, _VALUE):
                        raise _LeftToExactReader  # an anchor twice, or on '<<' or '='
                    anchors[event.anchor] = item
                    sizes[event.anchor] = 1
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                nodes += 1
                if event.tag not in (None, "!", _MAP if kind is MappingStartEvent else _SEQ):
                    raise _LeftToExactReader
                stack.append((container, in_mapping, key, merge_from, anchor))
                if len(stack) > MAX_DEPTH:
                    raise _LeftToExactReader
                container = {} if kind is MappingStartEvent else []
                # Every collection's, not only list items': an id is reused once its object
                # is freed (an inline merge source is), and must not keep the old line.
                start_lines[id(container)] = event.start_mark.line + 1 + offset
                in_mapping = kind is MappingStartEvent
                key = _NO_KEY
                merge_from = _NO_MERGE
                anchor = event.anchor
                if anchor is not None:
                    if anchor in anchors:
                        raise _LeftToExactReader
                    anchors[anchor] = container
                    open_anchors[anchor] = nodes - 1
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                item = container
                if merge_from is not _NO_MERGE:
                    _merge_into(item, merge_from)
                if anchor is not None:
                    sizes[anchor] = nodes - open_anchors.pop(anchor)
                container, in_mapping, key, merge_from, anchor = stack.pop()
            elif kind is AliasEvent:
                name = event.anchor
                if name in open_anchors or name not in anchors:
                    raise _LeftToExactReader  # recursive, or undefined
                nodes += sizes[name]
                repeated += sizes[name]
                if repeated > MAX_ALIAS_EXPANSION:
                    raise _LeftToExactReader
                item = anchors[name]
            elif kind is DocumentEndEvent:
                return root, start_lines
            else:
                raise _LeftToExactReader
            if container is None:
                root = item
            elif not in_mapping:
                container.append(item)
            elif key is _NO_KEY:
                key = item
            else:
                if key is _MERGE_KEY:
                    if merge_from is not _NO_MERGE:
                        raise _LeftToExactReader  # '<<' twice
                    merge_from = item
                else:
                    try:
                        if key in container:
                            raise _LeftToExactReader
                    except TypeError:  # an unhashable key
                        raise _LeftToExactReader from None
                    container[key] = item
                key = _NO_KEY

    def scalar(self, tag: str, event: Any) -> Any:
        """A non-string scalar, built by PyYAML's own constructor for its tag."""
        if tag not in _SCALAR_TAGS:
            raise _LeftToExactReader
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return SafeConstructor.yaml_constructors[tag](self.loader, node)
        except Exception:  # a bad date, a huge number: the exact reader words it
            raise _LeftToExactReader from None


def _merge_into(mapping: dict[Any, Any], merged: Any) -> None:
    """Apply ``<<: merged`` to ``mapping``, as the YAML merge-key spec says.

    The mapping's own keys win; in ``<<: [*a, *b]`` a key of ``a`` wins over ``b``'s. Keys come
    in the order the exact reader gives them: merged ones first.
    """
    sources = merged if isinstance(merged, list) else [merged]
    if not all(isinstance(source, dict) for source in sources):
        raise _LeftToExactReader
    own = dict(mapping)
    mapping.clear()
    for source in reversed(sources):
        mapping.update(source)
    mapping.update(own)


class _FastLines:
    """Lines for the fast reader's data: list items at once, anything else via the exact reader."""

    def __init__(self, text: str, offset: int, data: Any, start_lines: dict[int, int]) -> None:
        self.text = text
        self.offset = offset
        self.data = data
        self.start_lines = start_lines
        self.exact: _LineIndex | None = None

    def line_of(self, path: FieldPath) -> int:
        """The list item's own line when the fast reader kept it; else ask the exact reader."""
        if path and type(path[-1]) is int:
            item = self._value_at(path)
            if isinstance(item, dict | list) and id(item) in self.start_lines:
                return self.start_lines[id(item)]
        if self.exact is None:
            with _collector_paused():
                self.exact = _read_exact(self.text, self.offset, libyaml=True)._lines
        return self.exact.line_of(path)

    def _value_at(self, path: FieldPath) -> Any:
        # Follows the same steps as _NodeLines (string keys, list positions), so that where it
        # arrives is the node the exact reader would find.
        value = self.data
        for part in path:
            found = (isinstance(value, dict) and type(part) is str and part in value) or (
                isinstance(value, list) and type(part) is int and 0 <= part < len(value))
            if not found:
                return None
            value = value[part]
        return value


# -- the exact reader: PyYAML's node graph, checked ---------------------------------------------


class _GuardedComposer(Composer):
    """PyYAML's composer, refusing hostile documents before anything is built from them.

    It counts the values of the document as if every alias were written out, memoised: each
    anchor's count is taken once, when its node is complete, and an alias adds it.
    """

    line_offset = 0
    peek_event: Callable[[], Any]  # the parser's

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.nodes = 0
        self.repeated = 0
        self.sizes: dict[str, int] = {}
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose one node, counting it and refusing what is hostile."""
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self.follow_alias(event)
            return super().compose_node(parent, index)
        self.nodes += 1
        start = self.nodes - 1
        anchor = event.anchor
        if isinstance(event, ScalarEvent):
            node = super().compose_node(parent, index)
        else:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _too_deep(event.start_mark, self.line_offset)
            if anchor is not None:
                self.open_anchors.add(anchor)
            node = super().compose_node(parent, index)
            self.open_anchors.discard(anchor)
            self.depth -= 1
        if anchor is not None:
            self.sizes[anchor] = self.nodes - start
        return node

    def follow_alias(self, event: AliasEvent) -> None:
        """Count what an alias repeats; refuse one inside its own anchor, or one too many."""
        anchor = str(event.anchor)
        if anchor in self.open_anchors:
            raise _recursive_alias(anchor, event.start_mark, self.anchors[anchor].start_mark,
                                   self.line_offset)
        size = self.sizes.get(anchor)
        if size is None:
            return  # undefined: PyYAML's composer says so
        self.nodes += size
        self.repeated += size
        if self.repeated > MAX_ALIAS_EXPANSION:
            raise _aliases_expand_too_far(anchor, event.start_mark, self.line_offset)


class _StrictConstructor(SafeConstructor):
    """PyYAML's safe constructor, with duplicate keys refused and merge keys as YAML specifies."""

    line_offset = 0

    def __init__(self) -> None:
        super().__init__()
        self.flattened: set[Node] = set()
        self.duplicates: list[tuple[MappingNode, ScalarNode, YamlProblem]] = []

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Construct one node; a scalar that cannot be what it looks like is a problem here."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as error:
            kind = _KINDS.get(str(node.tag), "its type")
            reason = "too many digits" if "digits" in str(error) else str(error)
            # Never echo the value: it may be a secret pasted into the wrong place.
            raise YamlSyntaxError(f"this value looks like {kind} but is not one ({reason}); "
                                  "quote it to keep it as text",
                                  _line(node.start_mark, self.line_offset)) from None

    def flatten_mapping(self, node: MappingNode) -> None:
        """Check the mapping's keys once, then expand its merge keys (``<<``).

        As the YAML merge-key spec says: the mapping's own keys win, and in ``<<: [*a, *b]``
        a key of ``a`` wins over one of ``b`` (PyYAML 6.0.4 lets ``b`` win).
        """
        if node in self.flattened:
            return
        self.flattened.add(node)
        self.find_duplicate_keys(node)
        merged: list[tuple[Node, Node]] = []
        own: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                if key_node.tag == _VALUE:
                    key_node.tag = _STR  # '=' is an ordinary key here, as PyYAML has it
                own.append((key_node, value_node))
                continue
            sources = (value_node.value if isinstance(value_node, SequenceNode)
                       else [value_node])
            for source in sources:
                self.check_merge_source(node, value_node, source)
            for source in reversed(sources):  # the first listed is applied last, so it wins
                self.flatten_mapping(source)
                merged.extend(source.value)
        node.value = merged + own

    def check_merge_source(self, node: MappingNode, value_node: Node, source: Node) -> None:
        """Refuse what cannot be merged, in PyYAML's words."""
        if isinstance(source, MappingNode):
            return
        if source is value_node:
            raise ConstructorError("while constructing a mapping", node.start_mark,
                                   "expected a mapping or list of mappings for merging, but "
                                   f"found {_kind(value_node)}", value_node.start_mark)
        raise ConstructorError("while constructing a mapping", node.start_mark,
                               f"expected a mapping for merging, but found {_kind(source)}",
                               source.start_mark)

    def find_duplicate_keys(self, node: MappingNode) -> None:
        """Note every key written twice in this mapping (merged keys may repeat: they yield)."""
        seen: dict[Any, ScalarNode] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode):
                continue  # a collection as a key: PyYAML refuses it as unhashable
            if key_node.tag == _MERGE:
                key: Any = _MERGE_KEY
            elif key_node.tag == _VALUE:
                key = key_node.value
            else:
                key = self.construct_object(key_node)
            if key in seen:
                problem = _duplicate_key(key_node, seen[key], self.line_offset)
                self.duplicates.append((node, key_node, problem))
            else:
                seen[key] = key_node

    def raise_duplicates(self, root: Node) -> None:
        """Raise every duplicate key found, each with its field, in the order of the file."""
        if not self.duplicates:
            return
        paths = _paths_to({id(mapping) for mapping, _, _ in self.duplicates}, root)
        problems = sorted(
            (YamlProblem(problem.line, problem.message,
                         (*paths.get(id(mapping), ()), key_node.value))
             for mapping, key_node, problem in self.duplicates),
            key=lambda problem: problem.line)
        first = problems[0]
        raise YamlSyntaxError(first.message, first.line, first.field, tuple(problems[1:]))


def _kind(node: Node) -> str:
    """'scalar', 'sequence' or 'mapping', as PyYAML's messages name a node."""
    return str(getattr(node, "id", "node"))


def _paths_to(targets: set[int], root: Node) -> dict[int, FieldPath]:
    """The path of each node in ``targets`` (by id), found walking the graph in file order."""
    paths: dict[int, FieldPath] = {}
    visited: set[int] = set()
    pending: list[tuple[Node, FieldPath]] = [(root, ())]
    while pending and len(paths) < len(targets):
        node, path = pending.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if id(node) in targets:
            paths[id(node)] = path
        if isinstance(node, MappingNode):
            children = [(value, (*path, key.value)) for key, value in node.value]
        elif isinstance(node, SequenceNode):
            children = [(item, (*path, index)) for index, item in enumerate(node.value)]
        else:
            continue
        pending.extend(reversed(children))
    return paths


class _ExactLoader(_GuardedComposer, _StrictConstructor, Resolver):
    """What both exact loaders add to their parser."""

    def __init__(self, line_offset: int) -> None:
        _GuardedComposer.__init__(self)
        _StrictConstructor.__init__(self)
        Resolver.__init__(self)
        self.line_offset = line_offset


class _PureExactLoader(Reader, Scanner, Parser, _ExactLoader):
    """PyYAML's pure-Python parser under the exact reader."""

    def __init__(self, text: str, line_offset: int) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _ExactLoader.__init__(self, line_offset)


_LIBYAML_EXACT_LOADER: Callable[[str, int], Any] | None = None
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _LibyamlExactLoader(_ExactLoader, CParser):
        """libyaml's events, composed into nodes by PyYAML's (guarded) composer."""

        def __init__(self, text: str, line_offset: int) -> None:
            CParser.__init__(self, text)
            _ExactLoader.__init__(self, line_offset)

    _LIBYAML_EXACT_LOADER = _LibyamlExactLoader


def _read_exact(text: str, offset: int, *, libyaml: bool) -> YamlDocument:
    """Parse with every node's position; a libyaml syntax error is re-read in PyYAML's words."""
    loader: Any
    try:
        # PyYAML's reader checks every character of the text as the loader is made.
        if libyaml and _LIBYAML_EXACT_LOADER is not None:
            loader = _LIBYAML_EXACT_LOADER(text, offset)
        else:
            libyaml = False
            loader = _PureExactLoader(text, offset)
    except yaml.YAMLError as error:
        raise _syntax_error(error, text, offset) from None
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
        if root is not None:
            loader.raise_duplicates(root)
    except yaml.YAMLError as error:
        if libyaml:
            return _read_exact(text, offset, libyaml=False)
        raise _syntax_error(error, text, offset) from None
    finally:
        loader.dispose()
    return YamlDocument(data, _NodeLines(root, offset))


class _NodeLines:
    """Lines read off a node graph whose merge keys have been expanded."""

    def __init__(self, root: Node | None, offset: int) -> None:
        self.root = root
        self.offset = offset

    def line_of(self, path: FieldPath) -> int:
        """Follow ``path`` down the graph; a mapping key answers with the key's own line."""
        node = self.root
        if node is None:
            return 1
        line = _line(node.start_mark, self.offset)
        for part in path:
            if isinstance(node, MappingNode):
                # The last pair with the key is the one in effect (merged pairs come first).
                pair = next(((key, value) for key, value in reversed(node.value)
                             if key.value == part), None)
                if pair is None:
                    return line
                line = _line(pair[0].start_mark, self.offset)
                node = pair[1]
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(
                    node.value):
                node = node.value[part]
                line = _line(node.start_mark, self.offset)
            else:
                return line
        return line
