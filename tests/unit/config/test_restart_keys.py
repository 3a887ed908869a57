"""Config keys of the backoff that never gives up and of the restart history (ours, opt-in):
defaults, values, and errors that name the file, section, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_runtime.config import ConfigError, load_config
from supervisor_runtime.config.model import BackoffConfig


def load(tmp_path: Path, supervisord: str = "", program: str = ""):  # type: ignore[no-untyped-def]
    path = tmp_path / "supervisord.conf"
    path.write_text(f"[supervisord]\n{supervisord}\n[program:app]\ncommand=/bin/true\n{program}\n")
    return load_config(str(path)), path


def test_stock_configs_have_neither(tmp_path: Path) -> None:
    config, _ = load(tmp_path)
    assert config.history_size == 0
    assert config.groups[0].processes[0].backoff is None


def test_exponential_defaults_and_values(tmp_path: Path) -> None:
    config, _ = load(tmp_path, program="backoff = Exponential")
    assert config.groups[0].processes[0].backoff == BackoffConfig(1.0, 300.0, 0.1)
    config, _ = load(
        tmp_path,
        program="backoff=exponential\nbackoff_initial=0.5\nbackoff_max=60\nbackoff_jitter=0",
    )
    assert config.groups[0].processes[0].backoff == BackoffConfig(0.5, 60.0, 0.0)
    config, _ = load(tmp_path, program="backoff=linear")
    assert config.groups[0].processes[0].backoff is None


def test_history_defaults_and_values(tmp_path: Path) -> None:
    assert load(tmp_path, "history=true")[0].history_size == 20
    assert load(tmp_path, "history=yes\nhistory_size=3")[0].history_size == 3
    assert load(tmp_path, "history=false\nhistory_size=3")[0].history_size == 0


@pytest.mark.parametrize(
    ("supervisord", "program", "key", "value", "reason"),
    [
        ("", "backoff=forever", "backoff", "forever", "must be one of linear, exponential"),
        ("", "backoff=exponential\nbackoff_max=0", "backoff_max", "0", "more than 0"),
        ("", "backoff=exponential\nbackoff_max=2d", "backoff_max", "2d", "not a number"),
        ("", "backoff=exponential\nbackoff_initial=nan", "backoff_initial", "nan", "more than"),
        ("", "backoff=exponential\nbackoff_max=86401", "backoff_max", "86401", "at most 86400"),
        ("", "backoff=exponential\nbackoff_jitter=1.5", "backoff_jitter", "1.5", "from 0 to 1"),
        (
            "",
            "backoff=exponential\nbackoff_initial=10\nbackoff_max=5",
            "backoff_max",
            "5",
            "less than backoff_initial",
        ),
        ("", "backoff_max=60", "backoff_max", "60", "only used with backoff = exponential"),
        ("history=maybe", "", "history", "maybe", "not a valid boolean"),
        ("history=true\nhistory_size=0", "", "history_size", "0", "from 1 to 1000"),
        ("history=true\nhistory_size=x", "", "history_size", "x", "not an integer"),
    ],
)
def test_bad_values_name_file_section_key_and_value(
    tmp_path: Path, supervisord: str, program: str, key: str, value: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        load(tmp_path, supervisord, program)
    error = caught.value
    section = "supervisord" if supervisord else "program:app"
    assert (error.path, error.section, error.key, error.value) == (
        str(tmp_path / "supervisord.conf"),
        section,
        key,
        value,
    )
    assert f"invalid value for {key} ({value!r}) in section [{section}]" in str(error)
