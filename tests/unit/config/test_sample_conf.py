"""echo_supervisord_conf, side by side with stock 4.3.0's: recipes edit the sample with sed
and expect stock's lines, so the same edits applied to both samples must load the same.

Only the wording of comments is ours: every other line (blank, section, key = value) is
stock's text up to its trailing comment, on the same line number.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from supervisor_runtime.config import ConfigError
from supervisor_runtime.config.ctl_options import load_ctl_config
from tests.harness import impl_bin
from tests.stock import stock_python

from .test_stock_compare import compare

pytestmark = pytest.mark.stock

# Each recipe is sed expressions written against stock's sample ({tmp}: the test's dir).
RECIPES: dict[str, list[str]] = {
    # The Dockerfile recipe of issue 19: switch [include] on, point it at conf.d.
    "include_conf_d": [
        r"s/^;\[include\]/[include]/",
        r"s|^;files = relative/directory/\*\.ini|files = {tmp}/conf.d/*.conf|",
    ],
    "container_foreground": [
        "s/^nodaemon=false/nodaemon=true/",
        r"s|^logfile=/tmp/supervisord.log|logfile={tmp}/main.log|",
        r"s|^pidfile=/tmp/supervisord.pid|pidfile={tmp}/d.pid|",
        r"s/^\(logfile_maxbytes=\)50MB/\10/",
        r"s/^;\(strip_ansi=\)false/\1true/",
        r"s|^;\(childlogdir=\)/tmp|\1{tmp}|",
    ],
    # Lines that occur in several sections are edited everywhere: the same ones must.
    "inet_with_login": [
        r"s/^;\[inet_http_server\]/[inet_http_server]/",
        "s/^;port=127.0.0.1:9001/port=*:9001/",
        "s/^;username=user/username=admin/",
        "s/^;password=123/password=secret/",
        "s|^;serverurl=http://127.0.0.1:9001|serverurl=http://127.0.0.1:9001|",
    ],
    # A key uncommented under a commented section header lands in the section above it.
    "daemon_keys_everywhere": [
        "s/^;umask=022/umask=002/",
        "s/^;identifier=supervisor/identifier=box/",
        "s/^;nocleanup=true/nocleanup=true/",
        "s/^;chmod=0700/chmod=0770/",
        r"s/^;environment=KEY=\"value\"/environment=KEY=\"v\"/",
    ],
    "program_from_sample": [
        "/^;user=chrism/d",
        r"/^;\[program:theprogramname\]/,/^$/s/^;//",
        "s|/a/path|{tmp}/p.log|",
    ],
    "everything_uncommented": [
        "/^;user=/d",
        "/^;chown=/d",
        r"s/^;\([a-z_.]\+ \?= \?\)/\1/",
        r"s/^;\[/[/",
        "s|/a/path|{tmp}/p.log|",
        "s/progname1,progname2/theprogramname/",
        r"s|relative/directory/\*\.ini|{tmp}/conf.d/*.conf|",
    ],
}


# supervisorctl's view of a config, as stock reads it (run by stock's python).
STOCK_CTL_VIEW = """
import json, sys
from supervisor.options import ClientOptions
options = ClientOptions()
options.realize(["-c", sys.argv[1]])
print(json.dumps([options.serverurl, options.username, options.password, options.prompt,
                  options.history_file]))
"""


def ctl_views(stock_path: Path, ours_path: Path) -> tuple[object, object]:
    """[supervisorctl] as stock's supervisorctl and ours read it ("error" when refused)."""
    done = subprocess.run(
        [str(stock_python()), "-c", STOCK_CTL_VIEW, str(stock_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    stock = json.loads(done.stdout) if done.returncode == 0 else "error"
    try:
        ctl = load_ctl_config(str(ours_path))
    except ConfigError:
        return stock, "error"
    return stock, [ctl.serverurl, ctl.username, ctl.password, ctl.prompt, ctl.history_file]


def sample(impl: str) -> str:
    command = [str(impl_bin(impl, "echo_supervisord_conf"))]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def contract(line: str) -> str:
    """What recipes may rely on in a line: all of it up to a trailing comment, or only
    that it is a comment or blank."""
    if line == ";" or line.startswith("; "):
        return "<comment>"
    comment = re.search(r"\s;", line[1:])
    return line if comment is None else line[: comment.start() + 2]


def test_same_lines_as_stock_but_for_comment_words() -> None:
    ours, stock = sample("ours").splitlines(), sample("stock").splitlines()
    assert ours[0] == stock[0] == "; Sample supervisor config file."
    assert [contract(line) for line in ours] == [contract(line) for line in stock]
    # The other comments are in our own words.
    stock_comments = {line for line in stock[1:] if contract(line) == "<comment>"} - {";"}
    assert not stock_comments & set(ours)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_edits_load_the_same(tmp_path: Path, recipe: str) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "web.conf").write_text("[program:web]\ncommand=/bin/cat\n")
    arguments = [arg for e in RECIPES[recipe] for arg in ("-e", e.replace("{tmp}", str(tmp_path)))]
    paths = {}
    for impl in ("stock", "ours"):
        edited = subprocess.run(
            ["sed", *arguments], input=sample(impl), capture_output=True, text=True, check=True
        ).stdout
        paths[impl] = tmp_path / impl / "supervisord.conf"
        paths[impl].parent.mkdir()
        paths[impl].write_text(edited)
    outcome = compare(paths["stock"], ours_path=paths["ours"])
    stock_ctl, ours_ctl = ctl_views(paths["stock"], paths["ours"])
    assert ours_ctl == stock_ctl
    if recipe in ("include_conf_d", "everything_uncommented"):
        assert "web" in [group["name"] for group in outcome["ok"]["groups"]], outcome
    if recipe == "program_from_sample":
        assert [group["name"] for group in outcome["ok"]["groups"]] == ["theprogramname"]
