"""The preprocessor: comments, quotes, continuation, @ID conditionals, $NAME parameters, include."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import BASIC, Failer, Loader, instance, where

from vipd.config import ConfigError, load_config
from vipd.config.diagnostics import DiagnosticSink
from vipd.config.lexer import Lexer, expand_braces, strip_comment


def tokens(text: str, config_id: str = "node1") -> list[list[str]]:
    sink = DiagnosticSink()
    lines = Lexer(sink, config_id).read_text(text)
    assert not sink.items, sink.items
    return [[t.text for t in ln.tokens] for ln in lines]


def test_comments_hash_and_bang_anywhere_outside_quotes() -> None:
    assert strip_comment('a b # c "d"') == "a b "
    assert strip_comment('a "b # c" ! d') == 'a "b # c" '
    assert tokens("! header\n  # indented\nrouter_id x   # trailing\nauth_pass 'a!b'\n") == [
        ["router_id", "x"],
        ["auth_pass", "a!b"],
    ]


def test_quotes_group_words_and_are_removed() -> None:
    assert tokens('notify_master "/bin/x  arg1   arg2" root\n') == [["notify_master", "/bin/x  arg1   arg2", "root"]]
    assert tokens("script '</dev/tcp/127.0.0.1/80'\n") == [["script", "</dev/tcp/127.0.0.1/80"]]


def test_braces_are_tokens_even_when_glued() -> None:
    assert tokens("global_defs{router_id x}\n") == [["global_defs", "{", "router_id", "x", "}"]]
    assert tokens('a "{" b\n') == [["a", "{", "b"]]


def test_token_lines_and_tabs() -> None:
    sink = DiagnosticSink()
    lines = Lexer(sink).read_text("\n\n\tinterface\teth0.1\t\t# Vlaned\n")
    assert [(t.text, t.line) for t in lines[0].tokens] == [("interface", 3), ("eth0.1", 3)]


def test_line_continuation() -> None:
    assert tokens("virtual_ipaddress { \\\n 192.0.2.1 }\n") == [["virtual_ipaddress", "{", "192.0.2.1", "}"]]


def test_conditional_lines() -> None:
    text = "@node1 priority 150\n@node2 priority 100\n@^node1 state BACKUP\n@^node2\tstate MASTER\n"
    assert tokens(text, "node1") == [["priority", "150"], ["state", "MASTER"]]
    assert tokens(text, "node2") == [["priority", "100"], ["state", "BACKUP"]]
    assert tokens(text, "other") == [["state", "BACKUP"], ["state", "MASTER"]]


def test_conditional_without_id_is_an_error(fail: Failer) -> None:
    assert where(fail("@ priority 1\n" + instance(BASIC))) == [(1, "@")]


def test_parameters() -> None:
    text = "$IF=eth0\n$VIP=192.0.2.10/24 dev ${IF}\ninterface $IF\nvip ${VIP}\nkeep ${UNDEFINED} $ALSO\n"
    assert tokens(text) == [
        ["interface", "eth0"],
        ["vip", "192.0.2.10/24", "dev", "eth0"],
        ["keep", "${UNDEFINED}", "$ALSO"],
    ]


def test_multiline_parameter_expands_to_several_lines() -> None:
    text = "$ADDRS=192.0.2.1 \\\n  192.0.2.2\nvirtual_ipaddress {\n$ADDRS\n}\n"
    assert tokens(text) == [["virtual_ipaddress", "{"], ["192.0.2.1"], ["192.0.2.2"], ["}"]]


def test_predefined_parameters() -> None:
    assert tokens("a ${_HASH}x ${_BANG} ${_INSTANCE}\n", "n7") == [["a", "#x", "!", "n7"]]


def test_circular_parameter_is_an_error() -> None:
    sink = DiagnosticSink()
    Lexer(sink).read_text("$A=${B}\n$B=${A}\nx $A\n")
    assert [(d.line, d.keyword) for d in sink.items] == [(3, "$")]


def test_unterminated_quote(fail: Failer) -> None:
    assert where(fail(instance(BASIC + '    notify_master "/bin/x\n'))) == [(7, "config")]


def test_brace_expansion() -> None:
    assert expand_braces("/a/{b,c}.conf") == ["/a/b.conf", "/a/c.conf"]
    assert expand_braces("x{1,{2,3}}") == ["x1", "x2", "x3"]
    assert expand_braces("plain") == ["plain"]


def test_include_brace_explosion_is_refused_not_expanded(fail: Failer) -> None:
    """``{a,b}`` x 40 is 2**40 names: refused at once (it used to stat them all: a hang)."""
    errors = fail("vrrp_instance VI_1 {\n}\ninclude /nonexistent/" + "{a,b}" * 40 + ".conf\n")
    includes = [d for d in errors if d.keyword == "include"]
    assert [d.line for d in includes] == [3]
    assert "expands to more than 1000 names" in includes[0].message
    with pytest.raises(ValueError):
        expand_braces("{a,b}" * 11)
    assert len(expand_braces("{a,b}" * 9)) == 512


@pytest.mark.parametrize("braces", ["{a,b}" * 5000, "{a," * 5000 + "}" * 5000, "{,}" * 5000])
def test_include_with_thousands_of_braces_is_an_error_not_a_recursion_error(fail: Failer, braces: str) -> None:
    """Each brace group was one level of recursion: 5000 of them raised RecursionError out of the loader."""
    errors = fail("include /nonexistent/" + braces + "\n")
    assert [(d.line, d.keyword) for d in errors] == [(1, "include")]
    assert "more than 64 '{' braces" in errors[0].message


def test_conditional_config_pair_from_one_file(load: Loader) -> None:
    text = instance("@node1 state MASTER\n@node1 priority 150\n@node2 priority 100\n" + BASIC)
    vi1 = load(text, config_id="node1").config.vrrp_instances["VI_1"]
    vi2 = load(text, config_id="node2").config.vrrp_instances["VI_1"]
    assert (vi1.state, vi1.priority) == ("MASTER", 150)
    assert (vi2.state, vi2.priority) == (None, 100)


# -- include -----------------------------------------------------------------------------------


def test_include_relative_glob_sorted(write: Callable[..., Path]) -> None:
    main = write("global_defs {\n  router_id r\n}\ninclude conf.d/*.conf\n")
    write(instance(BASIC, "VI_B"), "conf.d/20-b.conf")
    write(instance(BASIC.replace("51", "52"), "VI_A"), "conf.d/10-a.conf")
    cfg = load_config(main).config
    assert list(cfg.vrrp_instances) == ["VI_A", "VI_B"]


def test_error_in_included_file_names_that_file(write: Callable[..., Path]) -> None:
    main = write("include inc.conf\n")
    inc = write(instance(BASIC + "    priority 0\n"), "inc.conf")
    with pytest.raises(ConfigError) as info:
        load_config(main)
    assert [(d.file, d.line, d.keyword) for d in info.value.errors] == [(str(inc), 7, "priority")]


def test_include_inside_a_block(write: Callable[..., Path]) -> None:
    main = write("vrrp_instance VI_1 {\n  include body.conf\n}\n")
    write(BASIC, "body.conf")
    assert load_config(main).config.vrrp_instances["VI_1"].virtual_router_id == 51


def test_include_missing_file_is_an_error_and_empty_glob_a_warning(write: Callable[..., Path]) -> None:
    main = write("include nope.conf\n" + instance(BASIC))
    with pytest.raises(ConfigError) as info:
        load_config(main)
    assert [(d.line, d.keyword) for d in info.value.errors] == [(1, "include")]
    main = write("include none/*.conf\n" + instance(BASIC))
    assert [(w.line, w.keyword) for w in load_config(main).warnings] == [(1, "include")]


def test_include_cycle_is_reported(write: Callable[..., Path]) -> None:
    main = write("include a.conf\n" + instance(BASIC))
    write("include b.conf\n", "a.conf")
    b = write("include a.conf\n", "b.conf")
    with pytest.raises(ConfigError) as info:
        load_config(main)
    errors = info.value.errors
    assert [(d.file, d.line, d.keyword) for d in errors] == [(str(b), 1, "include")]
    assert "cycle" in errors[0].message


def test_include_depth_is_bounded(write: Callable[..., Path]) -> None:
    main = write("include d1.conf\n" + instance(BASIC))
    for i in range(1, 12):
        write(f"include d{i + 1}.conf\n", f"d{i}.conf")
    write("", "d12.conf")
    with pytest.raises(ConfigError) as info:
        load_config(main)
    assert "deeper" in info.value.errors[0].message


def test_include_with_braces(write: Callable[..., Path]) -> None:
    main = write("include {a,b}.conf\n")
    write(instance(BASIC, "VI_A"), "a.conf")
    write(instance(BASIC.replace("51", "52"), "VI_B"), "b.conf")
    assert list(load_config(main).config.vrrp_instances) == ["VI_A", "VI_B"]


@pytest.mark.parametrize(
    "line",
    [
        "virtual_router_id 51",
        "vrrp_instance VI_1 {",
        "}",
        "global_defs{router_id a}",
        "  virtual_ipaddress {10.0.0.1/24 dev eth0}  ",
        "a\tb\u00a0c {{ }} d$e $f",
        "",
        "{}{}",
    ],
)
@pytest.mark.parametrize("braces", [True, False])
def test_the_quick_split_gives_the_scanners_tokens(line: str, braces: bool) -> None:
    """Lines without quotes or ${NAME} are split at once; the tokens must be the scanner's."""
    lexer = Lexer(DiagnosticSink())
    assert lexer._tokenize(line, "f", 1, braces=braces) == lexer._scan(line, "f", 1, braces=braces)
