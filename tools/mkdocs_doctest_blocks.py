"""Griffe extension for the docs build: doctest examples render as code.

The package's docstrings follow TFP's style guide (`#### Examples` followed by
doctest lines), which Google-style parsing reads as plain Markdown, where
`>>>` becomes nested block quotes and `[...]` output becomes a link. This
extension fences each run of doctest lines (a `>>>` line, its `...`
continuations and its expected output, up to a blank line) as a Python code
block before the docstring is parsed. Only the rendered site changes: pytest
reads the docstrings themselves.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Returns `text` with each doctest block wrapped in a ```python fence."""
    out: list[str] = []
    in_block = False
    indent = ""
    for line in text.splitlines():
        stripped = line.lstrip()
        if not in_block and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}```python")
            in_block = True
        elif in_block and not stripped:
            out.append(f"{indent}```")
            in_block = False
        out.append(line)
    if in_block:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    """Fences doctest examples in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrites the object's docstring, if it has doctest lines."""
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
