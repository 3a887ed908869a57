"""Helpers for config tests: write a config into a temp dir and load it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_runtime.config import SupervisordConfig, load_config

MINIMAL = "[supervisord]\nlogfile={tmp}/supervisord.log\npidfile={tmp}/supervisord.pid\n"

WriteConf = Callable[..., Path]
LoadConf = Callable[..., SupervisordConfig]


@pytest.fixture
def write_conf(tmp_path: Path) -> WriteConf:
    """write_conf(text, name="supervisord.conf") -> path; ``{tmp}`` becomes tmp_path and
    the text is dedented."""

    def write(text: str, name: str = "supervisord.conf") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).replace("{tmp}", str(tmp_path)))
        return path

    return write


@pytest.fixture
def load(write_conf: WriteConf) -> LoadConf:
    """load(text, environ=None, with_supervisord=True): write and parse a config.
    A minimal [supervisord] section is prepended unless with_supervisord is false."""

    def load_text(
        text: str, environ: dict[str, str] | None = None, with_supervisord: bool = True
    ) -> SupervisordConfig:
        body = textwrap.dedent(text)
        if with_supervisord:
            body = MINIMAL + body
        return load_config(str(write_conf(body)), environ=environ or {})

    return load_text
