"""One sanitiser for data-derived text on every human or CI channel (SPEC §9).

Column names, group keys, file names and cell text quoted in errors come from files other
people and programs wrote. On a channel a human or a CI runner reads, such text must never
act: no control byte, escape sequence, bidi override or line break reaches a terminal, stderr,
Markdown, a GitHub workflow command or JUnit XML. Every character :meth:`str.isprintable`
rejects (C0 and C1 controls, DEL, ESC, format characters such as U+202E, line and paragraph
separators, surrogates, private-use and unassigned code points, every space but U+0020) is
shown as its Python escape: ``\\n``, ``\\x1b``, ``\\u202e``. A backslash itself is left as it
is (a Windows path stays readable), so the escaped form is safe but not always reversible.

Since every line break in data is escaped, data can begin a line only where a table row or a
``--format value`` line begins with a group key. CI runners look for commands there too: GitHub
Actions reads ``::command::`` after any leading blanks (a table row whose first cells are
empty) and its older ``##[command]`` form anywhere in a line, Azure Pipelines ``##vso[`` and
``##[`` anywhere. So :func:`visible` also writes a leading ``::`` as ``\x3a:`` and the ``[``
of ``##[`` / ``##vso[`` as ``\x5b``: no line losscli writes can hold a workflow command that
came from data.

Machine formats (JSON, CSV, NDJSON, Parquet) keep the exact data; they quote it their own way.
"""

from __future__ import annotations

import re

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: ``##[`` (GitHub's v1 commands, Azure's formatting commands) and ``##vso[`` (Azure's logging
#: commands) act anywhere in a line; the ``[`` is written ``\x5b``.
_COMMAND_ANYWHERE = re.compile(r"(##(?:vso)?)\[", re.IGNORECASE)


def _escape_char(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: object) -> str:
    """``text`` with every non-printable character replaced by its visible escape, and the
    markers of CI workflow commands (a leading ``::``, ``##[``, ``##vso[``) defused."""
    s = text if isinstance(text, str) else str(text)
    if not s.isprintable():  # the common case is one C-level scan
        s = "".join(ch if ch.isprintable() else _escape_char(ch) for ch in s)
    if "##" in s:
        s = _COMMAND_ANYWHERE.sub(r"\1\\x5b", s)
    if s.lstrip(" ").startswith("::"):
        start = len(s) - len(s.lstrip(" "))
        s = s[:start] + "\\x3a" + s[start + 1 :]
    return s


def line(text: object) -> str:
    """One stderr line: :func:`visible` (so it holds no line break and no escape sequence)."""
    return visible(text)


def rich_text(text: object) -> str:
    """A cell or caption for a rich table: :func:`visible`, then rich markup (``[``) escaped
    so that data cannot style, link or hide itself."""
    from rich.markup import escape

    return escape(visible(text))


_MARKDOWN_SPECIAL = frozenset("\\`|<&$")


def markdown(text: object) -> str:
    """A Markdown (GitHub-flavoured) table cell or list item: :func:`visible`, then what
    Markdown or HTML could read as syntax that acts backslash-escaped: ``|`` cannot end the
    cell, ``<b>`` or ``<https://x>`` is no tag or link, ``&#8238;`` no character reference,
    `` `x` `` no code span, ``$x$`` no formula, ``[x](y)`` / ``![x](y)`` no link or image
    (``](`` becomes ``]\\(``), and a backslash cannot undo an escape. Ordinary names and
    keys (``north_east``, ``seg=[a]``) read as they are."""
    s = visible(text)
    if not any(ch in _MARKDOWN_SPECIAL for ch in s) and "](" not in s:
        return s
    s = "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in s)
    return s.replace("](", "]\\(")


def workflow_data(text: object) -> str:
    """The message of a GitHub workflow command (``::error::MESSAGE``): the runner's own
    escapes for ``%``, CR and LF (the annotation shows them as line breaks; they cannot start
    a command), every other non-printable character shown escaped as in :func:`visible`."""
    s = text if isinstance(text, str) else str(text)
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return visible(s)


def workflow_property(text: object) -> str:
    """A property value of a workflow command (``::error title=VALUE::``): as
    :func:`workflow_data`, plus ``:`` and ``,``, which end a property."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def xml(text: object) -> str:
    """Text or an attribute value for JUnit XML: :func:`visible`, which leaves only characters
    XML 1.0 allows (the serializer then escapes ``& < > "``)."""
    return visible(text)
