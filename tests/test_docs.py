"""The quickstart's and the tutorial's Python code blocks run, so the docs cannot drift.

A page may shrink its examples for the test with HTML comments that readers don't see:

* ``<!-- docs-test: replace "OLD" "NEW" -->`` anywhere on the page: textual replacement in
  every code block before running (for example ``steps=600`` -> ``steps=2``);
* ``<!-- docs-test: skip -->`` right before a block: the block is not run (GPU-only examples).

Blocks of one page run in order in one namespace, inside a temporary working folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"(<!-- docs-test: skip -->\s*)?```python\n(.*?)```", re.S)
REPLACE = re.compile(r'<!-- docs-test: replace "(.*?)" "(.*?)" -->')


def code_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    replacements = REPLACE.findall(text)
    blocks = []
    for skip, code in BLOCK.findall(text):
        if skip:
            continue
        for old, new in replacements:
            code = code.replace(old, new)
        blocks.append(code)
    return blocks


@pytest.mark.parametrize("page", ["quickstart.md", "tutorial.md"])
def test_page_code_runs(page, tmp_path, monkeypatch):
    path = DOCS / page
    if not path.exists():
        pytest.fail(f"docs page {path} is missing")
    blocks = code_blocks(path)
    assert blocks, f"{page} has no runnable python blocks"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.replace('.', '_')}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page}[block {i}]", "exec"), namespace)
        except Exception as err:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page} block {i} failed:\n{code}") from err
