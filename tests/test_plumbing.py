"""Tests for the shared plumbing in theory.plumbing."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Literal

import pytest

from theory import registry, validate
from theory.plumbing import configs, records


@dataclasses.dataclass(frozen=True)
class _Cfg:
    """A toy config."""

    lr: float = configs.help_field(0.1, "learning rate")
    steps: int = configs.help_field(10, "number of steps")
    method: Literal["a", "b"] = configs.help_field("a", "method name")
    sizes: tuple[int, ...] = configs.help_field((1, 2), "sizes")
    flag: bool = configs.help_field(False, "a switch")
    note: str | None = configs.help_field(None, "optional note")


def test_registry_refuses_duplicates_and_lists_names():
    table: dict[str, int] = {}
    registry.register(table, "thing", "x", 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(table, "thing", "x", 2)
    registry.register(table, "thing", "y", 3)
    with pytest.raises(ValueError, match="valid things: x, y"):
        registry.lookup(table, "thing", "z")
    assert registry.lookup(table, "thing", "y") == 3


def test_validate_messages_name_argument_and_range():
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\]"):
        validate.check_range("eps", 0.0, 0, 1, lo_open=True)
    with pytest.raises(ValueError, match="eps"):
        validate.check_range("eps", float("nan"), 0, 1)
    assert validate.check_range("eps", 1.0, 0, 1, lo_open=True) == 1.0
    with pytest.raises(ValueError, match="n must be an integer"):
        validate.check_int("n", 2.5, 1)
    with pytest.raises(ValueError, match="n must be an integer"):
        validate.check_int("n", True, 1)
    with pytest.raises(ValueError, match=r"\[1, 40\]"):
        validate.check_int("n", 41, 1, 40)
    with pytest.raises(ValueError, match="one of a, b"):
        validate.check_choice("method", "c", ["a", "b"])


def test_config_cli_roundtrip_and_hash():
    parser = argparse.ArgumentParser()
    configs.add_config_arguments(parser, _Cfg)
    ns = parser.parse_args(["--lr", "0.5", "--sizes", "3,4", "--flag", "--method", "b"])
    cfg = configs.config_from_namespace(_Cfg, ns)
    assert cfg == _Cfg(lr=0.5, sizes=(3, 4), flag=True, method="b")
    assert configs.config_from_dict(_Cfg, configs.config_to_dict(cfg)) == cfg
    # Default fields do not enter the hash; any change of a value does.
    assert configs.config_hash(_Cfg()) == configs.config_hash(_Cfg(steps=10))
    assert configs.config_hash(_Cfg()) != configs.config_hash(_Cfg(steps=11))
    assert configs.config_diff(_Cfg(), cfg)[0].startswith("flag:")
    with pytest.raises(ValueError, match="unknown _Cfg fields"):
        configs.config_from_dict(_Cfg, {"bogus": 1})
    with pytest.raises(SystemExit):
        parser.parse_args(["--method", "c"])


def test_atomic_writes(tmp_path):
    p = records.atomic_write_json(tmp_path / "a" / "x.json", {"b": 0.1, "a": [1, 2]})
    assert records.read_json(p) == {"a": [1, 2], "b": 0.1}
    rows = [{"k": 1, "v": 0.1 + 0.2}, {"k": 2, "v": 1.5}]
    c = records.atomic_write_csv(tmp_path / "m.csv", rows)
    back = records.read_csv(c)
    assert float(back[0]["v"]) == 0.1 + 0.2  # full precision survives
    assert not list(tmp_path.glob("**/.*.tmp"))
    assert "python" in records.environment_info()


def test_csv_writes_numpy_scalars_as_plain_numbers(tmp_path):
    import numpy as np

    path = records.atomic_write_csv(
        tmp_path / "m.csv", [{"p": np.float64(0.5), "k": np.int64(3), "f": np.float32(0.25), "s": "x"}]
    )
    (row,) = records.read_csv(path)
    assert row == {"p": "0.5", "k": "3", "f": "0.25", "s": "x"}


def test_atomic_files_get_umask_permissions(tmp_path):
    import stat

    path = records.atomic_write_text(tmp_path / "a.txt", "hi")
    plain = tmp_path / "b.txt"
    plain.write_text("hi")  # what an ordinary open() gives under this process's umask
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~records._UMASK
