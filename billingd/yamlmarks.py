"""YAML that remembers where each value was written.

:func:`load` parses one YAML document with PyYAML's safe loader and returns a tree
of :class:`Entry` objects, each holding the plain Python value and the 1-based
line it came from, so a validator can name both the key and the line in its
error messages. Duplicate keys, which PyYAML silently collapses, are refused.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

import yaml

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(Exception):
    """The text is not one well-formed YAML document; ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


@dataclass(frozen=True, eq=False)
class Entry:
    """A YAML value with its position.

    ``line`` is the line of the entry's key (of the item, in a sequence; of the
    value, for the document itself). ``children`` holds ``(key, Entry)`` pairs of
    a mapping or ``(index, Entry)`` pairs of a sequence.
    """

    value: Any
    line: int
    children: tuple[tuple[Any, Entry], ...] = ()

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    def lines(self, prefix: str = "") -> dict[str, int]:
        """Every dotted key below this entry (``a.b``, ``a.list[0]``) mapped to its line."""
        found: dict[str, int] = {}
        for key, child in self.children:
            name = dotted((key,), prefix, index=self.is_sequence)
            found[name] = child.line
            found.update(child.lines(name))
        return found


def load(text: str) -> Entry | None:
    """Parse ``text``; None for an empty document. Raises :class:`YamlError`."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        line = node.start_mark.line + 1
        return _Builder(loader).build(node, line, ())
    except yaml.MarkedYAMLError as exc:
        message, line = _syntax_error(exc)
        raise YamlError(message, line, _key_near(text, line)) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise YamlError(message, line, _key_near(text, line)) from None
    except RecursionError:
        raise YamlError("lists and mappings nested too deeply", None) from None
    finally:
        if loader is not None:
            loader.dispose()


def dotted(path: tuple[Any, ...], prefix: str = "", *, index: bool | None = None) -> str:
    """``("smtp", "port")`` → ``smtp.port``; ``("access", "admin", 0)`` → ``access.admin[0]``.

    Integers are taken as sequence indexes unless ``index`` says otherwise.
    """
    name = prefix
    for part in path:
        as_index = isinstance(part, int) if index is None else index
        if as_index:
            name += f"[{part}]"
        else:
            name = f"{name}.{part}" if name else str(part)
    return name


def _syntax_error(exc: yaml.MarkedYAMLError) -> tuple[str, int | None]:
    mark = exc.problem_mark or exc.context_mark
    if exc.context == "while scanning a simple key" and exc.context_mark:
        mark = exc.context_mark  # the line missing its ':', not the one after it
    problem, context = exc.problem or "malformed document", exc.context or ""
    if not context:
        message = problem
    elif context.startswith("while"):
        message = f"{problem} ({context})"
    else:
        message = f"{context}, {problem}"
    if "alias" in context:
        message += "; a value starting with '*' must be quoted, e.g. \"*/5 * * * *\""
    return f"invalid YAML: {message}", mark.line + 1 if mark else None


_KEY_LINE = re.compile(
    r"""(?:[ ]*-[ ]+)*[ ]*(?P<key>"[^"]*"|'[^']*'|[^\s#:'"{}\[\],&*!|>%@`-][^:#]*?)[ ]*:(?:\s|$)"""
)


def _key_near(text: str, line: int | None) -> tuple[str, ...]:
    """Best guess at the dotted key around ``line`` of malformed YAML, from indentation alone.

    The key on that line (or the nearest one above) and each less indented key above it.
    """
    lines = text.splitlines()[:line] if line is not None else []
    if not lines or lines[-1].startswith(("---", "...")):  # no line, or a document marker
        return ()
    path: list[str] = []
    column: int | None = None
    if len(lines) == line and not _KEY_LINE.match(lines[-1]) and lines[-1].strip():
        column = len(lines[-1]) - len(lines[-1].lstrip(" -"))  # a value line: only parents count
    for raw in reversed(lines):
        match = _KEY_LINE.match(raw)
        if match and (column is None or match.start("key") < column):
            path.insert(0, match["key"].strip("'\""))
            column = match.start("key")
            if column == 0:
                break
    return tuple(path)


class _Builder:
    """Walks the composed node graph once; aliases reuse the entry of their anchor."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.done: dict[int, Entry] = {}
        self.active: set[int] = set()

    def build(self, node: yaml.Node, line: int, path: tuple[Any, ...]) -> Entry:
        if id(node) in self.done:
            return dataclasses.replace(self.done[id(node)], line=line)
        if id(node) in self.active:
            raise YamlError("recursive alias", line, path)
        self.active.add(id(node))
        if isinstance(node, yaml.MappingNode):
            entry = self._mapping(node, line, path)
        elif isinstance(node, yaml.SequenceNode):
            children = tuple(
                (i, self.build(item, item.start_mark.line + 1, (*path, i)))
                for i, item in enumerate(node.value)
            )
            entry = Entry([c.value for _, c in children], line, children)
        else:
            entry = Entry(self.loader.construct_object(node, deep=True), line)
        self.active.discard(id(node))
        self.done[id(node)] = entry
        return entry

    def _mapping(self, node: yaml.MappingNode, line: int, path: tuple[Any, ...]) -> Entry:
        own = sum(1 for key, _ in node.value if key.tag != _MERGE_TAG)
        self.loader.flatten_mapping(node)  # "<<" merges first, then the node's own keys
        first_own = len(node.value) - own
        children: dict[Any, Entry] = {}
        own_lines: dict[Any, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise YamlError("a mapping key must be a plain value", key_line, path) from None
            if index >= first_own:
                if key in own_lines:
                    message = f"duplicate key {key!r} (first on line {own_lines[key]})"
                    raise YamlError(message, key_line, (*path, key))
                own_lines[key] = key_line
            children.pop(key, None)
            children[key] = self.build(value_node, key_line, (*path, key))
        value = {key: child.value for key, child in children.items()}
        return Entry(value, line, tuple(children.items()))
