"""The worker writes its workflow packages' bytecode even where Python is told not to."""

import importlib.util
import sys
from pathlib import Path

import pytest

from workers.bytecode import cache_workflow_bytecode


def test_every_module_beside_a_workflow_gets_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "someflows"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flow.py").write_text("class Flow:\n    pass\n")
    (package / "helper.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    flow = importlib.import_module("someflows.flow")
    try:
        assert cache_workflow_bytecode([flow.Flow]) == 3
        for name in ("__init__", "flow", "helper"):
            assert Path(importlib.util.cache_from_source(str(package / f"{name}.py"))).is_file()
    finally:
        for name in ("someflows", "someflows.flow"):
            sys.modules.pop(name, None)
