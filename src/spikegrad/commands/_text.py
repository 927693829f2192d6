"""Plain terminal text from the reST of docstrings (``spikegrad surrogates``, ...)."""

from __future__ import annotations

import re

__all__ = ["plain_text"]

# :role:`~a.b.C` -> C, :role:`title <target>` -> title, :role:`text` -> text
_ROLE = re.compile(r":[a-zA-Z0-9_.:+-]+:`(~?)([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")
_INTERPRETED = re.compile(r"(?<![\w`])`([^`]+)`_{0,2}")
_EMPHASIS = re.compile(r"(?<![\w*])\*\*?([^*\s][^*]*?)\*\*?(?![\w*])")


_FRAC = re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}")
_MACRO = re.compile(r"\\([a-zA-Z]+)\s*")
_SPACING = re.compile(r"\\[,;:! ]")


def _math(text: str) -> str:
    """LaTeX as ASCII: ``\\beta|x|`` -> ``beta|x|``, ``\\pi\\beta x`` -> ``pi beta x``."""
    text = _FRAC.sub(r"(\1)/(\2)", text)
    text = _SPACING.sub(" ", text)

    def macro(m: re.Match) -> str:
        rest = text[m.end():m.end() + 1]
        return m.group(1) + (" " if rest[:1].isalnum() or rest == "\\" else "")

    out = _MACRO.sub(macro, text)
    return out.replace("{", "").replace("}", "")


def _role(m: re.Match) -> str:
    tilde, text = m.group(1), m.group(2)
    if m.group(0).startswith(":math:"):
        return _math(text)
    titled = re.fullmatch(r"(.*?)\s*<[^>]*>", text, flags=re.S)
    if titled:
        return titled.group(1)
    if tilde:
        return text.rsplit(".", 1)[-1]
    return text


def plain_text(s: str) -> str:
    r"""``s`` without reST markup, for a terminal.

    Roles keep their text (``:math:`\beta``` -> ``\beta``, ``:class:`~a.b.C``` -> ``C``,
    ``:func:`title <a.f>``` -> ``title``), inline literals their content (````x```` -> ``x``),
    emphasis and interpreted text their words; whitespace runs (line breaks included)
    become one space.
    """
    s = _ROLE.sub(_role, s)
    s = _LITERAL.sub(r"\1", s)
    s = _INTERPRETED.sub(r"\1", s)
    s = _EMPHASIS.sub(r"\1", s)
    return " ".join(s.split())
