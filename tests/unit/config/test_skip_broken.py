"""[include] skip_broken = true: broken included files are set aside, the rest loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_runtime.config import ConfigError, load_config
from supervisor_runtime.config.notices import ConfigNotice, describe
from supervisor_runtime.config.skip_broken import keep_last_loaded

from .conftest import MINIMAL, WriteConf
from .test_seeds import seed_text

SKIPPING = MINIMAL + "[include]\nfiles = conf.d/*.conf\nskip_broken = true\n"
GOOD = "[program:good]\ncommand=/bin/true\n"


def names(conf: object) -> list[str]:
    return [group.name for group in conf.groups]  # type: ignore[attr-defined]


def test_seed_002_typo_is_set_aside_with_file_line_section_key_value(
    write_conf: WriteConf, tmp_path: Path
) -> None:
    write_conf(GOOD, "conf.d/good.conf")
    mine = write_conf(seed_text("002_redis_numprocs_l.conf"), "conf.d/mine.conf")
    conf = load_config(str(write_conf(SKIPPING)), environ={})
    assert names(conf) == ["good"]
    assert conf.included_files == (f"{tmp_path}/conf.d/good.conf",)
    (notice,) = conf.config_notices
    assert notice == ConfigNotice(
        file=str(mine),
        error="not an integer: 'l'",
        line=7,
        section="program:redis_6376",
        key="numprocs",
        value="l",
    )
    assert ("warn", describe(notice.as_struct())) in conf.parse_messages
    assert describe(notice.as_struct()) == (
        f"included file {mine} set aside: line 7 [program:redis_6376] numprocs = 'l': "
        "not an integer: 'l'"
    )


def test_without_the_key_the_same_files_are_refused_as_stock_does(write_conf: WriteConf) -> None:
    write_conf(GOOD, "conf.d/good.conf")
    write_conf(seed_text("002_redis_numprocs_l.conf"), "conf.d/mine.conf")
    main = write_conf(MINIMAL + "[include]\nfiles = conf.d/*.conf\n")
    with pytest.raises(ConfigError, match=r"invalid value for numprocs \('l'\)"):
        load_config(str(main), environ={})
    off = write_conf(MINIMAL + "[include]\nfiles = conf.d/*.conf\nskip_broken = false\n")
    with pytest.raises(ConfigError, match="numprocs"):
        load_config(str(off), environ={})


@pytest.mark.parametrize(
    ("text", "error", "line"),
    [
        ("[program:x]\ncommand=/bin/true\nthis is not ini\n", "Source contains parsing errors", 3),
        ("command=/bin/true\n", "File contains no section headers", 1),
        (
            "[program:x]\ncommand=/bin/true\n[progam:y]\ncommand=/bin/true\n",
            "unknown section type",
            3,
        ),
        ("[program:x]\ncommand=/bin/true\nautorestart=sometimes\n", "invalid 'autorestart'", 3),
        (
            "[program:x]\ncommand=/bin/true\nstopasgroup=true\nkillasgroup=false\n",
            "Cannot set stopasgroup=true and killasgroup=false",
            1,
        ),
        ("[program:x]\nnumprocs=1\n", "does not specify a command", 1),
        ("[program:x]\ncommand=/bin/true\x00evil\n", "NUL byte", 2),
    ],
)
def test_each_kind_of_broken_file_is_set_aside_whole(
    write_conf: WriteConf, text: str, error: str, line: int
) -> None:
    write_conf(GOOD, "conf.d/a_good.conf")
    broken = write_conf(text + "[program:also_in_broken]\ncommand=/bin/true\n", "conf.d/b.conf")
    conf = load_config(str(write_conf(SKIPPING)), environ={})
    assert names(conf) == ["good"]  # nothing of the broken file, not even its good section
    (notice,) = conf.config_notices
    assert notice.file == str(broken)
    assert error.lower() in notice.error.lower()
    assert notice.line == line


def test_a_clash_is_blamed_on_the_file_that_wrote_the_bad_value(write_conf: WriteConf) -> None:
    # The section is the good file's; the bad key comes from a later file reopening it.
    write_conf("[program:app]\ncommand=/bin/true\n", "conf.d/a_app.conf")
    override = write_conf("[program:app]\nstartretries=many\n", "conf.d/z_override.conf")
    conf = load_config(str(write_conf(SKIPPING)), environ={})
    assert names(conf) == ["app"]
    assert conf.groups[0].processes[0].startretries == 3
    assert [(n.file, n.key, n.line) for n in conf.config_notices] == [
        (str(override), "startretries", 2)
    ]


def test_a_group_naming_a_set_aside_program_is_set_aside_too(write_conf: WriteConf) -> None:
    write_conf("[program:w]\ncommand=/bin/true\nnumprocs=l\n", "conf.d/a.conf")
    write_conf("[group:g]\nprograms=w\n", "conf.d/b.conf")
    write_conf(GOOD, "conf.d/c.conf")
    conf = load_config(str(write_conf(SKIPPING)), environ={})
    assert names(conf) == ["good"]
    assert sorted(Path(n.file).name for n in conf.config_notices) == ["a.conf", "b.conf"]


def test_the_main_file_is_never_set_aside(write_conf: WriteConf) -> None:
    write_conf(GOOD, "conf.d/good.conf")
    main = write_conf(SKIPPING + "[program:main]\ncommand=/bin/true\nnumprocs=l\n")
    with pytest.raises(ConfigError, match="numprocs"):
        load_config(str(main), environ={})


def test_a_bad_value_of_the_main_file_is_not_blamed_on_a_file_reopening_its_section(
    write_conf: WriteConf,
) -> None:
    write_conf("[program:main]\nstartretries=5\n", "conf.d/reopens.conf")
    main = write_conf(SKIPPING + "[program:main]\ncommand=/bin/true\nnumprocs=l\n")
    with pytest.raises(ConfigError, match="numprocs"):
        load_config(str(main), environ={})


def test_a_bad_skip_broken_value_is_an_error(write_conf: WriteConf) -> None:
    main = write_conf(MINIMAL + "[include]\nfiles = conf.d/*.conf\nskip_broken = maybe\n")
    with pytest.raises(ConfigError, match="skip_broken"):
        load_config(str(main), environ={})


def test_group_files_and_keep_last_loaded_on_reread(write_conf: WriteConf, tmp_path: Path) -> None:
    write_conf(GOOD, "conf.d/good.conf")
    mine = write_conf("[program:mine]\ncommand=/bin/sleep 1\n", "conf.d/mine.conf")
    main = str(write_conf(SKIPPING))
    before = load_config(main, environ={})
    assert dict(before.group_files) == {"good": f"{tmp_path}/conf.d/good.conf", "mine": str(mine)}
    assert before.config_notices == ()

    # mine.conf breaks and good.conf changes: mine is kept as it runs, good is the new one.
    mine.write_text("[program:mine]\ncommand=/bin/sleep 2\nnumprocs=l\n")
    write_conf("[program:good]\ncommand=/bin/false\n", "conf.d/good.conf")
    fresh = load_config(main, environ={})
    assert names(fresh) == ["good"]
    active = {group.name: group for group in before.groups}
    kept = keep_last_loaded(fresh, before, active)
    assert names(kept) == ["good", "mine"]
    assert kept.groups[1] == active["mine"]  # unchanged: update leaves it running
    assert kept.groups[0].processes[0].command == "/bin/false"
    assert kept.config_notices == fresh.config_notices

    # Kept again at the next reread, still broken; a new broken file adds nothing.
    write_conf("[program:new]\ncommand=/bin/true\nstartsecs=x\n", "conf.d/new.conf")
    again = keep_last_loaded(load_config(main, environ={}), kept, active)
    assert names(again) == ["good", "mine"]
    assert len(again.config_notices) == 2


def test_a_file_broken_from_the_start_adds_nothing_on_reread(write_conf: WriteConf) -> None:
    write_conf("[program:mine]\ncommand=/bin/sleep 1\nnumprocs=l\n", "conf.d/mine.conf")
    main = str(write_conf(SKIPPING))
    first = load_config(main, environ={})
    assert keep_last_loaded(load_config(main, environ={}), first, {}).groups == ()
