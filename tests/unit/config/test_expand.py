"""%(name)s expansion and its error wording."""

from __future__ import annotations

import pytest

from supervisor_runtime.config.expand import env_names, expand


def test_expand_printf_forms_and_literal_percent() -> None:
    names = {"program_name": "web", "process_num": 3}
    assert expand("%(program_name)s_%(process_num)02d 100%%", names, "x.y") == "web_03 100%"


def test_unknown_name_lists_available_names() -> None:
    message = (
        "Format string '%(foo)s' for 'program:x.command' contains names ('foo') which "
        "cannot be expanded. Available names: ENV_HOME, here"
    )
    with pytest.raises(ValueError, match=f"^{message.replace('(', '[(]').replace(')', '[)]')}$"):
        expand("%(foo)s", {"here": "/", "ENV_HOME": "/root"}, "program:x.command")


def test_badly_formatted() -> None:
    with pytest.raises(ValueError, match="is badly formatted"):
        expand("100%", {}, "x")
    with pytest.raises(ValueError, match="is badly formatted"):
        expand("%(n)d", {"n": "text"}, "x")


def test_env_names() -> None:
    assert env_names({"A": "1"}) == {"ENV_A": "1"}
