"""hostingctl program-file: one [program:x] file through hosting.program_section, as the
roles write the host runtime's, a prefix's Redis's and the panel's."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from hosting.program_section import program_section

from supervisor_runtime.config import load_config
from workers.cli import main

# As platform_web gives them: spaces and double quotes in the command, numbers and booleans.
OPTIONS = {
    "command": '/opt/with-env /etc/web.env gunicorn --workers 2 "admin_web:create_app()"',
    "directory": "/var/lib/hosting",
    "umask": "007",
    "autostart": True,
    "startsecs": 2,
    "stopsignal": "TERM",
    "stopwaitsecs": 40,
    "redirect_stderr": True,
}
TEXT_OPTIONS = [
    (key, str(value).lower() if value is True else str(value)) for key, value in OPTIONS.items()
]


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    *args: str,
    stdin: object = OPTIONS,
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(stdin)))
    code = main(["program-file", str(path), "--name", "hosting-web", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_what_program_section_makes_once_and_checks_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hosting-web.conf"
    args = ("--options-stdin", "--comment", "Ansible managed", "--comment", "The panel.")

    code, out, _ = run(capsys, monkeypatch, path, *args, "--check")
    assert (code, out) == (0, f"changed {path}\ncheck only: nothing was written\n")
    assert not path.exists()

    code, out, _ = run(capsys, monkeypatch, path, *args, "--mode", "0640")
    assert (code, out) == (0, f"changed {path}\n")
    section = program_section("hosting-web", TEXT_OPTIONS)
    assert path.read_text() == "; Ansible managed\n; The panel.\n" + section
    assert mode(path) == 0o640
    # What the runtime reads is what was given, quotes and all.
    (tmp_path / "supervisord.conf").write_text(
        f"[supervisord]\nlogfile={tmp_path}/s.log\n[include]\nfiles = hosting-web.conf\n"
    )
    (group,) = load_config(str(tmp_path / "supervisord.conf")).groups
    process = group.processes[0]
    assert process.command == OPTIONS["command"]
    assert (process.umask, process.startsecs, process.stopwaitsecs) == (0o007, 2, 40)

    # Idempotent: the same file is left alone (not even replaced).
    inode = path.stat().st_ino
    code, out, _ = run(capsys, monkeypatch, path, *args, "--mode", "0640")
    assert (code, out) == (0, f"unchanged {path}\n")
    assert path.stat().st_ino == inode

    # A changed option: --check says so and writes nothing; a real run replaces the file.
    changed = {**OPTIONS, "stopwaitsecs": 50}
    code, out, _ = run(capsys, monkeypatch, path, *args, "--mode", "0640", "--check", stdin=changed)
    assert out.splitlines()[0] == f"changed {path}"
    assert "stopwaitsecs=40\n" in path.read_text()
    code, out, _ = run(capsys, monkeypatch, path, *args, "--mode", "0640", stdin=changed)
    assert out == f"changed {path}\n"
    assert "stopwaitsecs=50\n" in path.read_text()
    assert path.stat().st_ino != inode


def test_a_mode_or_owner_that_differs_is_set_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.conf"
    assert run(capsys, monkeypatch, path, "--options-stdin")[0] == 0
    assert mode(path) == 0o600  # the default
    inode, text = path.stat().st_ino, path.read_text()

    code, out, _ = run(capsys, monkeypatch, path, "--options-stdin", "--mode", "644", "--check")
    assert out.splitlines()[0] == f"changed {path}" and mode(path) == 0o600
    code, out, _ = run(capsys, monkeypatch, path, "--options-stdin", "--mode", "644")
    assert (code, out, mode(path)) == (0, f"changed {path}\n", 0o644)
    assert (path.stat().st_ino, path.read_text()) == (inode, text)

    me = f"{os.geteuid()}:{os.getegid()}"
    code, out, _ = run(capsys, monkeypatch, path, "--options-stdin", "--mode", "644", "--owner", me)
    assert (code, out) == (0, f"unchanged {path}\n")
    code, _, err = run(capsys, monkeypatch, path, "--options-stdin", "--owner", "no-such-user-x")
    assert code == 2 and "owner: no user 'no-such-user-x'" in err


def test_key_value_arguments_and_a_link_is_replaced_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere.conf"
    target.write_text("not ours\n")
    path = tmp_path / "p.conf"
    path.symlink_to(target)
    code = main(
        ["program-file", str(path), "--name", "x", "--option", "command=/bin/true a=b",
         "--option", "autostart=false"]
    )  # fmt: skip
    assert (code, capsys.readouterr().out) == (0, f"changed {path}\n")
    assert not path.is_symlink()
    assert path.read_text() == program_section(
        "x", [("command", "/bin/true a=b"), ("autostart", "false")]
    )
    assert target.read_text() == "not ours\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"autostart": "maybe"}, "autostart: invalid value for autostart ('maybe')"),
        ({"command": "/bin/true\n[program:evil]"}, "command: line 'command=/bin/true\\n"),
        ({"command": "/bin/true\x00"}, "command: line"),
        ({"stopwaitsecs": "soon"}, "stopwaitsecs: invalid value for stopwaitsecs ('soon')"),
        ({"autostrat": "true"}, "autostrat: not a key supervisord reads"),
        ({"command": "/bin/true ; rm"}, "command: '/bin/true ; rm' would be read as '/bin/true'"),
        ({"directory": " /srv "}, "directory: ' /srv ' would be read as '/srv'"),
        ({"user": "no-such-user-x"}, "user: invalid value for user ('no-such-user-x')"),
        ({"stdout_logfile": "/no/such/dir/x.log"}, "stdout_logfile: invalid value"),
        ({"startsecs": 1.5}, "startsecs: 1.5: a value must be a string"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key_and_nothing_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, object],
    message: str,
) -> None:
    path = tmp_path / "p.conf"
    code, out, err = run(capsys, monkeypatch, path, "--options-stdin", stdin={**OPTIONS, **change})
    assert (code, out) == (2, "")
    assert message in err
    assert "hosting-program-" not in err  # the scratch config is not named
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ([["command", "/bin/true"], ["command", "/bin/false"]], "command: given more than once"),
        ({"directory": "/tmp"}, "does not specify a command"),
        (["command=/bin/true"], "options: 'command=/bin/true' is not a [key, value] pair"),
        ("command=/bin/true", "options: give an object or a list of [key, value] pairs"),
    ],
)
def test_bad_options_and_bad_arguments_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: object,
    message: str,
) -> None:
    path = tmp_path / "p.conf"
    code, _, err = run(capsys, monkeypatch, path, "--options-stdin", stdin=stdin)
    assert code == 2 and message in err
    for args, refused in [
        (("--mode", "u+rw"), "mode: 'u+rw' is not an octal mode"),
        (("--comment", "two\nlines"), "comment: 'two\\nlines' would break the config"),
    ]:
        code, _, err = run(capsys, monkeypatch, path, "--options-stdin", *args)
        assert code == 2 and refused in err
    code, _, err = run(capsys, monkeypatch, tmp_path / "no/dir/p.conf", "--options-stdin")
    assert code == 2 and "path: cannot write" in err
    assert not path.exists()
