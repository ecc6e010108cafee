"""Which files of a directory Docker sends as the build context, given its `.dockerignore`.

A port of Docker's own rules (moby/patternmatcher ``MatchesOrParentMatches`` and
``ignorefile.ReadAll``, as BuildKit and the classic builder apply them), because no
installed library implements them (``pathspec`` follows .gitignore, which differs):

- a line starting with ``#`` is a comment; others are trimmed; empty lines are skipped;
- a pattern is cleaned like Go's ``filepath.Clean`` and is relative to the context root
  (a leading ``/`` is dropped): ``*.pem`` matches ``a.pem`` only, not ``deploy/a.pem``;
- ``*`` is any run of characters but ``/``, ``?`` one such character, ``[...]`` a class;
  ``**`` any number of directories (``**/x`` also matches ``x``; a trailing ``**``
  matches everything below);
- a path is matched when it or one of its parent directories matches;
- ``!pattern`` re-includes; patterns are read in order and the last match wins.

Pure: ``read_patterns`` parses, ``is_excluded`` decides, ``context_files`` lists.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class MatchType(Enum):
    EXACT = "exact"
    PREFIX = "prefix"  # "dir/**": everything that starts with "dir/"
    SUFFIX = "suffix"  # "**/name" or "**name": everything that ends so
    REGEXP = "regexp"


# Characters that are special in a regular expression but not in a Docker pattern.
_ESCAPED = set(".+()|{}$")


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool  # a "!" line: re-includes what it matches
    match_type: MatchType
    regexp: re.Pattern | None

    def matches(self, path: str) -> bool:
        if self.match_type is MatchType.EXACT:
            return path == self.text
        if self.match_type is MatchType.PREFIX:
            return path.startswith(self.text[:-2])
        if self.match_type is MatchType.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None


def compile_pattern(line: str) -> Pattern:
    """One cleaned pattern line (``!`` allowed) → ``Pattern``, as patternmatcher compiles it."""
    exclusion = line.startswith("!")
    text = line[1:] if exclusion else line
    if not text:
        raise ValueError('illegal exclusion pattern: "!"')
    regexp, match_type, index = "^", MatchType.EXACT, 0
    while index < len(text):
        char = text[index]
        if char == "*" and text[index + 1 : index + 2] == "*":
            at_start = index == 0
            index += 2
            if text[index : index + 1] == "/":
                index += 1
            if index == len(text):  # "**" at the end: everything below
                if match_type is MatchType.EXACT:
                    match_type = MatchType.PREFIX
                else:
                    regexp += ".*"
                    match_type = MatchType.REGEXP
            else:
                regexp += "(.*/)?"
                match_type = MatchType.REGEXP
            if at_start:  # patternmatcher: a leading "**" is a suffix test (unless a later
                match_type = MatchType.SUFFIX  # wildcard makes the pattern a regexp again)
            continue
        if char == "*":
            regexp += "[^/]*"
            match_type = MatchType.REGEXP
        elif char == "?":
            regexp += "[^/]"
            match_type = MatchType.REGEXP
        elif char in _ESCAPED:
            regexp += "\\" + char
        elif char == "\\":
            if index + 1 < len(text):
                index += 1
                regexp += re.escape(text[index])
                match_type = MatchType.REGEXP
            else:
                regexp += "\\\\"
        elif char in "[]":
            regexp += char
            match_type = MatchType.REGEXP
        else:
            regexp += char
        index += 1
    compiled = re.compile(regexp + "$") if match_type is MatchType.REGEXP else None
    return Pattern(text, exclusion, match_type, compiled)


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def read_patterns(text: str) -> list[Pattern]:
    """The patterns of a `.dockerignore` file's text, in order."""
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if line:
            line = _clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append(compile_pattern(("!" if exclusion else "") + line))
    return patterns


def is_excluded(path: str, patterns: Iterable[Pattern]) -> bool:
    """Whether ``path`` (relative, ``/``-separated) stays out of the build context."""
    path = _clean(path)
    if path == ".":
        return False
    parent = posixpath.dirname(path)
    parent_dirs = parent.split("/") if parent else []
    excluded = False
    for pattern in patterns:
        # An inclusion cannot exclude what is excluded; an exception has nothing to undo.
        if pattern.exclusion != excluded:
            continue
        match = pattern.matches(path) or any(
            pattern.matches("/".join(parent_dirs[: depth + 1])) for depth in range(len(parent_dirs))
        )
        if match:
            excluded = not pattern.exclusion
    return excluded


def context_files(paths: Iterable[str], dockerignore_text: str) -> set[str]:
    """The files of ``paths`` (relative to the context root) that Docker would send."""
    patterns = read_patterns(dockerignore_text)
    return {path for path in paths if not is_excluded(path, patterns)}
