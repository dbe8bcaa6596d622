"""Sample-corpus fixtures: the sample X archive built by scripts/make_sample_archive.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_sample_archive.py"


def sample_script() -> ModuleType:
    """The generator script as a module (scripts/ is not a package), loaded once."""
    name = "make_sample_archive"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of the sample archive zip (@skerryhorn, 2,400 tweets), built once per test run."""
    out = tmp_path_factory.mktemp("sample_archive") / "skerryhorn-archive.zip"
    return sample_script().build_archive(out)
