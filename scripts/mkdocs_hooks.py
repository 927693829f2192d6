"""mkdocs hooks: README.md and BENCHMARKS.md become site pages, links follow them.

The repository's README.md is the site's home page (``index.md``) and BENCHMARKS.md its
``benchmarks.md``, generated at build time so there is one copy of each. Links written
for reading on the repository (``docs/x.md`` from the root, ``../BENCHMARKS.md`` from
``docs/``) are rewritten to the site's pages; links to source files become code spans
(the API reference documents the modules).
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.structure.files import File

_ROOT_PAGES = {"README.md": "index.md", "BENCHMARKS.md": "benchmarks.md"}
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def _rewrite_from_root(text: str) -> str:
    """Links of a repository-root page, as seen from the docs/ root of the site."""

    def sub(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if "://" in target or target.startswith("#"):
            return m.group(0)
        path, _, anchor = target.partition("#")
        suffix = f"#{anchor}" if anchor else ""
        if path.startswith("docs/"):
            return f"[{label}]({path[len('docs/'):]}{suffix})"
        if path in _ROOT_PAGES:
            return f"[{label}]({_ROOT_PAGES[path]}{suffix})"
        return f"{label} (`{path}`)" if label != path else f"`{path}`"

    return _LINK.sub(sub, text)


def _rewrite_from_docs(text: str, depth: int) -> str:
    """Links of a page under docs/ (``depth`` folders deep) that leave docs/."""
    up = "../" * (depth + 1)
    here = "../" * depth

    def sub(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if not target.startswith(up) or "://" in target:
            return m.group(0)
        path, _, anchor = target[len(up):].partition("#")
        suffix = f"#{anchor}" if anchor else ""
        if path in _ROOT_PAGES:
            return f"[{label}]({here}{_ROOT_PAGES[path]}{suffix})"
        return f"{label} (`{path}`)" if label != path else f"`{path}`"

    return _LINK.sub(sub, text)


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for src, dest in _ROOT_PAGES.items():
        text = _rewrite_from_root((root / src).read_text(encoding="utf-8"))
        files.append(File.generated(config, dest, content=text))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri in _ROOT_PAGES.values() and page.file.generated_by:
        return markdown
    depth = page.file.src_uri.count("/")
    return _rewrite_from_docs(markdown, depth)
