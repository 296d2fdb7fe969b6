"""Shared test setup: hypothesis profiles, CPU-only torch, a temporary run root, the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Profiles (the numpy pattern). ``ci`` is derandomized and keeps no example database, so CI is
# reproducible; it is chosen automatically when CI=true. Override with HYPOTHESIS_PROFILE.
settings.register_profile("dev", max_examples=50, deadline=None, print_blob=True)
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    print_blob=True,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True)
_default_profile = "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default_profile))

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def tmp_run_root(tmp_path: Path) -> Path:
    """A fresh run root for tests that write run directories."""
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def pensia_target_path() -> Path:
    """Path to Pensia et al.'s trained 784-500-10 MNIST network; skips when ../shared is absent."""
    path = SHARED_DATA / "pensia_fc2_mnist.npz"
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu`` tests when no CUDA device is present (never import torch just to ask)."""
    gpu_items = [it for it in items if it.get_closest_marker("gpu")]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="no CUDA device")
        for it in gpu_items:
            it.add_marker(skip)
