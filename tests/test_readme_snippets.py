"""Every ```python block of README.md runs verbatim, as a plain script and from standard input.

The blocks are read from README.md when the tests are collected, so an edit of the README is tested.
A block may say in its first line that it needs something this machine may lack, visibly in the README:
``# needs CUDA: <reason>`` or ``# needs shared data: <reason>``; it is skipped (with that reason) only
when the need is unmet. Each block runs in a fresh interpreter in an empty folder (so it writes nothing
into the checkout), with this tree first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE_OPEN = re.compile(r"^```python\s*$")
_FENCE_CLOSE = re.compile(r"^```\s*$")
_NEEDS = re.compile(r"^#\s*needs (CUDA|shared data):\s*(\S.*)$")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of every ```python block of a Markdown text (1-based lines)."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        if current is None:
            if _FENCE_OPEN.match(line):
                current, start = [], number + 1
        elif _FENCE_CLOSE.match(line):
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        else:
            current.append(line)
    if current is not None:
        raise ValueError(f"README.md: the ```python block opened at line {start - 1} is never closed")
    return blocks


def _unmet_need(source: str) -> str | None:
    first = source.lstrip().splitlines()[0] if source.strip() else ""
    match = _NEEDS.match(first)
    if match is None:
        return None
    need, reason = match.groups()
    if need == "CUDA":
        import torch

        return None if torch.cuda.is_available() else f"needs CUDA ({reason}); none here"
    return None if SHARED_DATA.is_dir() else f"needs shared data ({reason}); {SHARED_DATA} is missing"


BLOCKS = python_blocks(README.read_text())


def test_the_extractor_finds_blocks_and_markers() -> None:
    text = "x\n```python\na = 1\n```\n```bash\nls\n```\n```python\n# needs CUDA: a GPU run\nb = 2\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (9, "# needs CUDA: a GPU run\nb = 2\n")]
    assert _NEEDS.match("# needs CUDA: a GPU run").groups() == ("CUDA", "a GPU run")
    with pytest.raises(ValueError, match="never closed"):
        python_blocks("```python\na = 1\n")
    assert len(BLOCKS) >= 4  # the README's Python examples are really collected


def _run(source: str, how: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "Agg"}
    if how == "script":
        script = folder / "snippet.py"
        script.write_text(source)
        cmd, stdin = [sys.executable, str(script)], None
    else:
        cmd, stdin = [sys.executable, "-"], source
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, cwd=folder, env=env, timeout=600)


@pytest.mark.slow  # a fresh interpreter per block and way (torch imports): about a minute in all
@pytest.mark.parametrize("how", ["script", "stdin"])
@pytest.mark.parametrize(("line", "source"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_python_block_runs(line: int, source: str, how: str, tmp_path: Path) -> None:
    reason = _unmet_need(source)
    if reason is not None:
        pytest.skip(f"README.md:{line}: {reason}")
    out = _run(source, how, tmp_path)
    assert out.returncode == 0, f"README.md:{line} ({how}) failed:\n{out.stderr[-4000:]}"
