"""The one writer of [program:x] text: options in order, and nothing that breaks a line."""

from __future__ import annotations

import pytest
from hosting.errors import ServiceSettingError
from hosting.program_section import program_section


def test_options_are_written_in_order_one_per_line() -> None:
    text = program_section("web", [("command", "run %%(x)s"), ("priority", "500")])
    assert text == "[program:web]\ncommand=run %%(x)s\npriority=500\n"


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_a_line_break_or_nul_anywhere_is_refused(bad: str) -> None:
    with pytest.raises(ServiceSettingError, match="would break the config") as refused:
        program_section("web", [("command", "ok"), ("directory", bad)])
    assert refused.value.field == "settings"
    with pytest.raises(ServiceSettingError, match="would break the config"):
        program_section(f"web{bad}", [])


@pytest.mark.parametrize("name", ["", "x]y"])
def test_a_name_that_cannot_name_a_section_is_refused(name: str) -> None:
    with pytest.raises(ServiceSettingError, match="cannot name a") as refused:
        program_section(name, [("command", "x")])
    assert refused.value.field == "name"
