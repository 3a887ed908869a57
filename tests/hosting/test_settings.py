"""hosting.settings: one settings file found the same way by every entrance, the environment
over it, no built-in URL, and a file anyone else could write is refused."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hosting import settings as s
from hosting.settings import SettingsError, load_settings, settings_text

VALUES = {
    "HOSTING_DATA_DIR": "/srv/data",
    "DATABASE_URL": "sqlite:////srv/data/hosting.db",
    "REDIS_URL": "unix://:p#ss w'rd@/srv/data/redis.sock",
    "APPS_ROOT": "/srv/apps",
    "HOSTING_HOST_ROOT": "/srv/host",
}


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_file_written_is_the_file_read(tmp_path: Path) -> None:
    path = write(tmp_path / "platform.env", settings_text(VALUES))
    loaded = load_settings({"HOSTING_SETTINGS": str(path)})
    assert loaded.redis_url == VALUES["REDIS_URL"]  # quoting survives '#', blanks, quotes
    assert (loaded.data_dir, loaded.apps_root, loaded.host_root) == (
        Path("/srv/data"),
        Path("/srv/apps"),
        Path("/srv/host"),
    )
    assert loaded.source == str(path)


def test_the_data_dirs_file_is_found_and_the_environment_wins(tmp_path: Path) -> None:
    write(tmp_path / "platform.env", settings_text(VALUES))
    env = {"HOSTING_DATA_DIR": str(tmp_path), "REDIS_URL": "unix:///elsewhere.sock"}
    loaded = load_settings(env)
    assert loaded.redis_url == "unix:///elsewhere.sock"
    assert loaded.database_url == VALUES["DATABASE_URL"]
    assert loaded.data_dir == tmp_path  # the environment's, over the file's
    given = load_settings(env, given={"REDIS_URL": "unix:///option.sock", "DATABASE_URL": None})
    assert (given.redis_url, given.database_url) == ("unix:///option.sock", VALUES["DATABASE_URL"])


def test_local_mode_looks_beside_the_virtualenv_then_in_etc(tmp_path: Path) -> None:
    assert sys.prefix != sys.base_prefix  # the tests run from .venv, as scripts/run does
    assert s.candidate_files({}) == [
        Path(sys.prefix).absolute().parent / ".run" / "platform.env",
        Path("/etc/hosting/platform.env"),
    ]
    assert s.candidate_files({"HOSTING_DATA_DIR": str(tmp_path)})[0] == tmp_path / "platform.env"


def test_no_settings_anywhere_is_a_clear_error_naming_where_it_looked(tmp_path: Path) -> None:
    if Path("/etc/hosting/platform.env").exists():
        pytest.skip("this machine has a platform's settings in /etc/hosting")
    with pytest.raises(SettingsError) as info:
        load_settings({"HOSTING_DATA_DIR": str(tmp_path)})
    message = str(info.value)
    assert message.startswith("no platform settings: DATABASE_URL and REDIS_URL not set")
    assert f"{tmp_path}/platform.env, /etc/hosting/platform.env" in message
    assert "HOSTING_SETTINGS" in message
    # Half the settings is no better: nothing is made up for the other half.
    with pytest.raises(SettingsError, match="REDIS_URL not set"):
        load_settings({"HOSTING_DATA_DIR": str(tmp_path), "DATABASE_URL": "sqlite://"})


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=f"HOSTING_SETTINGS={tmp_path}/none: no such file"):
        load_settings({"HOSTING_SETTINGS": str(tmp_path / "none")})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("REDIS_URL=x\nSECRET=1\n", "line 2: unknown key 'SECRET'"),
        ("REDIS_URL 'x'\n", "line 1: write KEY=value"),
        ("REDIS_URL='x\n", "line 1: No closing quotation"),
        ("REDIS_URL=a b\n", "line 1: write KEY=value"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path / "platform.env", text)
    with pytest.raises(SettingsError, match=f"{path}, {match}"):
        load_settings({"HOSTING_SETTINGS": str(path)})


def test_comments_and_blank_lines(tmp_path: Path) -> None:
    text = "# made by hand\n\nDATABASE_URL=sqlite:// # the database\nREDIS_URL='unix:///r'\n"
    path = write(tmp_path / "platform.env", text)
    loaded = load_settings({"HOSTING_SETTINGS": str(path)})
    assert (loaded.database_url, loaded.redis_url) == ("sqlite://", "unix:///r")


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "platform.env", settings_text(VALUES), mode)
    with pytest.raises(SettingsError, match=f"{path}: others may write it"):
        load_settings({"HOSTING_SETTINGS": str(path)})


def test_a_link_is_not_followed(tmp_path: Path) -> None:
    real = write(tmp_path / "real.env", settings_text(VALUES))
    (tmp_path / "platform.env").symlink_to(real)
    with pytest.raises(SettingsError, match="cannot be read .*a link is refused"):
        load_settings({"HOSTING_DATA_DIR": str(tmp_path)})


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file away")
def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "platform.env", settings_text(VALUES))
    os.chown(path, 65534, 65534)
    with pytest.raises(SettingsError, match="belongs to uid 65534, not root or us"):
        load_settings({"HOSTING_SETTINGS": str(path)})


def test_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not a regular file"):
        load_settings({"HOSTING_SETTINGS": str(tmp_path)})
