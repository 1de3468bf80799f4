"""Shared test fixtures. Tests never touch the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    on the two shared CPU cores one thread per test process beats contending threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["torch", "native"])
def render_code(request, monkeypatch):
    """Run a test with the renderer's PyTorch code and with its compiled CPU kernels
    (ganlift.render.native); the kernels' run is skipped where they cannot be built."""
    from ganlift.render import native

    if request.param == "torch":
        monkeypatch.setenv("GANLIFT_NATIVE", "0")
    elif native.library() is None:
        pytest.skip("the compiled kernels are not available here (no C compiler)")
    return request.param


def shared_path(*parts: str) -> Path:
    """Path inside ../shared; skips the calling test with a clear reason when absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (the ../shared folder is not beside this checkout)")
    return path
