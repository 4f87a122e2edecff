"""Every ```python block of docs/using_the_methods.md runs, each in a fresh namespace, so the guide cannot go stale.

Blocks opened with ```python no-run are skipped. An example that imports an optional extra which is not installed
(transformers, tokenizers, kvpress) is skipped with the missing package named; any other error fails. Tracebacks
point at the guide's own line numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "using_the_methods.md"
#: top-level packages of the optional extras (`llm`, `kv`)
OPTIONAL = {"transformers", "tokenizers", "kvpress"}


def python_blocks(text: str) -> list[tuple[str, int, str, str]]:
    """(section heading, first code line (1-based), info words after ``python``, code) of every ```python block."""
    blocks, heading, current = [], "", None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if current is None:
            if line.startswith("## "):
                heading = line[3:].strip()
            elif stripped.startswith("```python"):
                current = (heading, number + 1, stripped[len("```python"):].strip(), [])
        elif stripped == "```":
            blocks.append((current[0], current[1], current[2], "\n".join(current[3]) + "\n"))
            current = None
        else:
            current[3].append(line)
    if current is not None:
        raise ValueError(f"{GUIDE.name}:{current[1] - 1}: a ```python block is never closed")
    return blocks


def _slug(heading: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in heading.lower()).split()
    return "-".join(words[:5]) or "preamble"


BLOCKS = python_blocks(GUIDE.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if "no-run" not in b[2].split()]


def test_the_guide_has_runnable_examples():
    assert len(RUNNABLE) >= 6, f"expected an example per section, found {len(RUNNABLE)}"


@pytest.mark.parametrize("heading,line,code", [(h, n, c) for h, n, _, c in RUNNABLE],
                         ids=[f"{_slug(h)}-L{n}" for h, n, _, _ in RUNNABLE])
def test_example_runs(heading, line, code):
    # leading newlines make the compiled code's line numbers the guide's
    compiled = compile("\n" * (line - 1) + code, str(GUIDE), "exec")
    try:
        exec(compiled, {"__name__": "__docs_example__"})
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{heading}: needs the optional package {err.name}")
        raise
