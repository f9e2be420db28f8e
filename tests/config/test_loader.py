"""Reading config files: directories, includes, merging across files, and the errors on the way."""

from __future__ import annotations

from pathlib import Path

import pytest

from xtomp_core.config import read_config
from xtomp_core.config.loader import MAX_INCLUDE_DEPTH, key_path
from xtomp_core.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- directories ----------------------------------------------------------------------------


def test_directory_reads_toml_files_in_sorted_order(tmp_path: Path) -> None:
    # Written out of order on purpose: the name decides, not the creation time.
    write(tmp_path / "20-b.toml", '[destinations."b"]\ntype = "topic"\n')
    write(tmp_path / "00-a.toml", '[server]\nlisten = ["127.0.0.1:0"]\n')
    write(tmp_path / "10-c.toml", '[destinations."c"]\ntype = "topic"\n')
    write(tmp_path / "notes.txt", "not toml [[[")
    raw = read_config(tmp_path)
    assert raw.files == [str(tmp_path / "00-a.toml"), str(tmp_path / "10-c.toml"), str(tmp_path / "20-b.toml")]
    # Table order follows file order (plugins are enabled in this order).
    assert list(raw.data["destinations"]) == ["c", "b"]
    assert raw.data["server"] == {"listen": ["127.0.0.1:0"]}


def test_origins_name_the_file_of_each_key(tmp_path: Path) -> None:
    write(tmp_path / "00-a.toml", '[server]\nlisten = ["127.0.0.1:0"]\n')
    write(tmp_path / "10-b.toml", "[server]\nmax_headers = 10\n")
    raw = read_config(tmp_path)
    assert raw.origin(("server", "listen")) == str(tmp_path / "00-a.toml")
    assert raw.origin(("server", "max_headers")) == str(tmp_path / "10-b.toml")
    assert raw.origin(("server",)) == str(tmp_path / "00-a.toml")  # the table: where it first appeared
    assert raw.origin(("server", "nowhere")) == "?"


def test_disabled_file_drops_out(tmp_path: Path) -> None:
    write(tmp_path / "00-core.toml", '[server]\nlisten = ["127.0.0.1:0"]\n')
    topics = write(tmp_path / "10-topics.toml", "[plugins.topics]\n")
    assert "plugins" in read_config(tmp_path).data
    topics.rename(tmp_path / "10-topics.toml.disabled")
    raw = read_config(tmp_path)
    assert "plugins" not in raw.data
    assert raw.files == [str(tmp_path / "00-core.toml")]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "10-topics.toml.disabled", "[plugins.topics]\n")
    with pytest.raises(ConfigError) as raised:
        read_config(tmp_path)
    assert str(raised.value) == f"{tmp_path}: no *.toml file in this directory"


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as raised:
        read_config(missing)
    assert str(raised.value) == f"{missing}: no such config file or directory"


# -- includes -------------------------------------------------------------------------------


def test_include_glob_relative_to_the_file_in_sorted_order(tmp_path: Path) -> None:
    main = write(tmp_path / "etc" / "xtomp.toml", 'include = ["conf.d/*.toml"]\n[server]\nmax_headers = 10\n')
    write(tmp_path / "etc" / "conf.d" / "20-z.toml", '[destinations."z"]\ntype = "topic"\n')
    write(tmp_path / "etc" / "conf.d" / "10-a.toml", '[server]\nlisten = ["127.0.0.1:0"]\n')
    write(tmp_path / "etc" / "conf.d" / "15-off.toml.disabled", "[server]\nmax_headers = 20\n")
    # The glob is relative to the including file, not to the working directory.
    write(tmp_path / "conf.d" / "99-wrong.toml", "[server]\nwrong = 1\n")
    raw = read_config(main)
    conf = tmp_path / "etc" / "conf.d"
    assert raw.files == [str(main), str(conf / "10-a.toml"), str(conf / "20-z.toml")]
    assert raw.data == {
        "server": {"max_headers": 10, "listen": ["127.0.0.1:0"]},
        "destinations": {"z": {"type": "topic"}},
    }
    assert "include" not in raw.data
    assert raw.origin(("server", "listen")) == str(conf / "10-a.toml")
    assert raw.origin(("server", "max_headers")) == str(main)


def test_include_may_be_a_single_string(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = "conf.d/*.toml"\n')
    write(tmp_path / "conf.d" / "a.toml", "[server]\nmax_headers = 10\n")
    assert read_config(main).data == {"server": {"max_headers": 10}}


def test_include_glob_matching_nothing_is_fine(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = ["conf.d/*.toml"]\n[server]\nmax_headers = 10\n')
    raw = read_config(main)
    assert raw.files == [str(main)]


def test_include_of_a_missing_plain_file_is_an_error(tmp_path: Path) -> None:
    # A typo in a plain file name must not silently drop that file's settings (nginx agrees).
    main = write(tmp_path / "xtomp.toml", 'include = ["conf.d/10-topcis.toml"]\n')
    write(tmp_path / "conf.d" / "10-topics.toml", "[plugins.topics]\n")
    with pytest.raises(ConfigError) as raised:
        read_config(main)
    assert str(raised.value) == f"{main}: include: 'conf.d/10-topcis.toml': no such file"


def test_include_absolute_glob(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "a.toml", "[server]\nmax_headers = 10\n")
    main = write(tmp_path / "main" / "xtomp.toml", f'include = ["{tmp_path / "elsewhere"}/*.toml"]\n')
    raw = read_config(main)
    assert raw.data == {"server": {"max_headers": 10}}
    assert raw.origin(("server", "max_headers")) == str(tmp_path / "elsewhere" / "a.toml")


def test_nested_includes(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = ["level1/*.toml"]\n[server]\nmax_headers = 10\n')
    write(tmp_path / "level1" / "a.toml", 'include = ["level2/*.toml"]\n[server]\nmax_transactions = 5\n')
    write(tmp_path / "level1" / "level2" / "b.toml", "[server]\nmax_subscriptions = 7\n")
    write(tmp_path / "level1" / "z.toml", "[server]\nmax_destinations = 9\n")
    raw = read_config(main)
    # Depth first: a file's own includes are read before its next sibling.
    assert raw.files == [
        str(main),
        str(tmp_path / "level1" / "a.toml"),
        str(tmp_path / "level1" / "level2" / "b.toml"),
        str(tmp_path / "level1" / "z.toml"),
    ]
    assert raw.data["server"] == {
        "max_headers": 10,
        "max_transactions": 5,
        "max_subscriptions": 7,
        "max_destinations": 9,
    }
    assert raw.origin(("server", "max_subscriptions")) == str(tmp_path / "level1" / "level2" / "b.toml")


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = ["conf.d/*.toml"]\n')
    write(tmp_path / "conf.d" / "a.toml", 'include = ["../xtomp.toml"]\n')
    with pytest.raises(ConfigError) as raised:
        read_config(main)
    message = str(raised.value)
    assert "include cycle" in message
    assert message.startswith(str(tmp_path / "conf.d" / ".." / "xtomp.toml") + ":")


def test_file_including_itself_is_a_cycle(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = ["*.toml"]\n')
    with pytest.raises(ConfigError, match="include cycle"):
        read_config(main)


def test_file_included_twice_is_an_error(tmp_path: Path) -> None:
    # Not a cycle, but two includes reaching one file: say so, rather than "x is already set in" itself.
    main = write(tmp_path / "xtomp.toml", 'include = ["a.toml", "b.toml"]\n')
    write(tmp_path / "a.toml", 'include = ["shared.toml"]\n')
    write(tmp_path / "b.toml", 'include = ["shared.toml"]\n')
    write(tmp_path / "shared.toml", "[server]\nmax_headers = 10\n")
    with pytest.raises(ConfigError) as raised:
        read_config(main)
    assert str(raised.value) == (
        f"{tmp_path / 'shared.toml'}: included twice (already read as {tmp_path / 'shared.toml'})"
    )


def test_includes_nested_too_deep(tmp_path: Path) -> None:
    for level in range(MAX_INCLUDE_DEPTH + 2):
        write(tmp_path / f"f{level}.toml", f'include = ["f{level + 1}.toml"]\n')
    write(tmp_path / f"f{MAX_INCLUDE_DEPTH + 2}.toml", "")
    with pytest.raises(ConfigError) as raised:
        read_config(tmp_path / "f0.toml")
    assert str(raised.value) == (
        f"{tmp_path / f'f{MAX_INCLUDE_DEPTH + 1}.toml'}: includes nested deeper than {MAX_INCLUDE_DEPTH}"
    )


@pytest.mark.parametrize("value", ["1", "[1, 2]", "{ a = 1 }", '["ok.toml", 3]'])
def test_include_must_be_globs(tmp_path: Path, value: str) -> None:
    main = write(tmp_path / "xtomp.toml", f"include = {value}\n")
    with pytest.raises(ConfigError) as raised:
        read_config(main)
    assert str(raised.value) == f"{main}: include: expected a list of file globs"


# -- merging --------------------------------------------------------------------------------


def test_tables_merge_across_files(tmp_path: Path) -> None:
    a = write(tmp_path / "00-a.toml", '[server]\nlisten = ["127.0.0.1:0"]\n[destinations."/topic/*"]\ntype = "topic"\n')
    b = write(
        tmp_path / "10-b.toml",
        '[server]\nmax_headers = 10\n[destinations."/topic/*"]\nmax_connections = 5\n[plugins.topics]\n',
    )
    raw = read_config(tmp_path)
    assert raw.data == {
        "server": {"listen": ["127.0.0.1:0"], "max_headers": 10},
        "destinations": {"/topic/*": {"type": "topic", "max_connections": 5}},
        "plugins": {"topics": {}},
    }
    assert raw.origin(("destinations", "/topic/*", "type")) == str(a)
    assert raw.origin(("destinations", "/topic/*", "max_connections")) == str(b)
    assert raw.origin(("plugins", "topics")) == str(b)


def test_empty_table_in_two_files_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "00-a.toml", "[plugins.topics]\n")
    write(tmp_path / "10-b.toml", "[plugins.topics]\n")
    raw = read_config(tmp_path)
    assert raw.data == {"plugins": {"topics": {}}}
    assert raw.origin(("plugins", "topics")) == str(tmp_path / "00-a.toml")


def test_value_set_in_two_files_names_both(tmp_path: Path) -> None:
    first = write(tmp_path / "00-a.toml", "[server]\nmax_headers = 10\n")
    second = write(tmp_path / "10-b.toml", "[server]\nmax_headers = 10\n")  # even the same value
    with pytest.raises(ConfigError) as raised:
        read_config(tmp_path)
    assert str(raised.value) == (
        f"{second}: server.max_headers is already set in {first}: set each value in one file only"
    )


def test_value_set_in_main_file_and_include_names_both(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = ["conf.d/*.toml"]\n[destinations."/q/*"]\ntype = "topic"\n')
    included = write(tmp_path / "conf.d" / "a.toml", '[destinations."/q/*"]\ntype = "queue"\n')
    with pytest.raises(ConfigError) as raised:
        read_config(main)
    message = str(raised.value)
    assert message.startswith(f"{included}: ")
    assert f'destinations."/q/*".type is already set in {main}' in message


def test_value_in_one_file_table_in_another(tmp_path: Path) -> None:
    first = write(tmp_path / "00-a.toml", "server = 1\n")
    second = write(tmp_path / "10-b.toml", "[server]\nmax_headers = 10\n")
    with pytest.raises(ConfigError) as raised:
        read_config(tmp_path)
    assert str(raised.value) == f"{second}: server is a table here but a value in {first}"


def test_table_in_one_file_value_in_another(tmp_path: Path) -> None:
    first = write(tmp_path / "00-a.toml", "[server]\nmax_headers = 10\n")
    second = write(tmp_path / "10-b.toml", "server = 1\n")
    with pytest.raises(ConfigError) as raised:
        read_config(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{second}: server is already set in {first}")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "00-a.toml", "[server]\nmax_headers = 10\n")
    broken = write(tmp_path / "10-b.toml", "[server\nmax_headers = 10\n")
    with pytest.raises(ConfigError) as raised:
        read_config(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{broken}: TOML syntax error: ")
    assert "line 1" in message


def test_toml_syntax_error_in_included_file_names_it(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", 'include = ["conf.d/*.toml"]\n')
    broken = write(tmp_path / "conf.d" / "a.toml", "[server]\nlisten = \n")
    with pytest.raises(ConfigError) as raised:
        read_config(main)
    assert str(raised.value).startswith(f"{broken}: TOML syntax error: ")


def test_duplicate_key_in_one_file_is_a_syntax_error(tmp_path: Path) -> None:
    main = write(tmp_path / "xtomp.toml", "[server]\nmax_headers = 1\nmax_headers = 2\n")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        read_config(main)


# -- key paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("server", "max_headers"), "server.max_headers"),
        (("destinations", "/topic/*", "type"), 'destinations."/topic/*".type'),
        (("destinations", "memq", "type"), 'destinations."memq".type'),  # as written in files
        (("destinations",), "destinations"),
        (("plugins", "filter-selector"), "plugins.filter-selector"),
        (("plugins", "a.b"), 'plugins."a.b"'),
        (("plugins", "café"), 'plugins."café"'),  # TOML bare keys are ASCII only
        (("server", 'say "hi"'), 'server."say \\"hi\\""'),
        (("server", ""), 'server.""'),
    ],
)
def test_key_path(path: tuple[str, ...], text: str) -> None:
    assert key_path(path) == text


#: In a fresh interpreter: read a config (dates included) twice, with and without tomllib imported before.
READ_TWICE = r"""
import json, sys
from xtomp_core.config import read_config
first = read_config(sys.argv[1]).data
after_first = sorted(name for name in sys.modules if name.split(".")[0] in ("tomllib", "datetime"))
again = read_config(sys.argv[1]).data
import tomllib
read_config(sys.argv[1])
print(json.dumps({"same": first == again, "left": after_first, "kept": "tomllib" in sys.modules,
                  "when": repr(again["server"]["when"])}))
"""


def test_the_toml_reader_leaves_with_the_memory_it_held(tmp_path: Path) -> None:
    """tomllib (and the datetime module it imports) are dropped after each read when the read
    imported them (an idle broker reuses their memory), and imported again by the next read
    (a reload); a program that imported tomllib itself keeps it."""
    import json
    import os
    import subprocess
    import sys

    write(tmp_path / "xtomp.toml", '[server]\nwhen = 1979-05-27T07:32:00Z\n[destinations."a"]\ntype = "topic"\n')
    # Under `make test` a child would start coverage, which reads its settings with tomllib.
    env = {**os.environ, "COVERAGE_PROCESS_START": "", "COVERAGE_PROCESS_CONFIG": ""}
    output = subprocess.run([sys.executable, "-c", READ_TWICE, str(tmp_path)], capture_output=True, text=True,
                            check=True, env=env).stdout
    assert json.loads(output) == {
        "same": True, "left": [], "kept": True,
        "when": "datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.timezone.utc)",
    }
