"""The request-template sandbox: what a template may do, and every way of growing a value refused with the
line it is on (a slip in a config must be an error, never a hang, a crash or a gigabyte)."""

from __future__ import annotations

from typing import Any

import pytest

from claude_any.template_sandbox import (
    MAX_SIZE,
    TemplateProblem,
    compile_template,
    path_segment,
    render_module,
    render_text,
)


def render(source: str, **variables: Any) -> str:
    return render_text(compile_template(source), variables)


def test_what_request_templates_do_still_works() -> None:
    settings = {"base_url": "https://h/v1", "api_key": "k", "org": None}
    assert (
        render("{{ settings.base_url ~ '/chat/completions' }}", settings=settings)
        == "https://h/v1/chat/completions"
    )
    assert render(
        "{{ 'Bearer ' ~ settings.api_key if settings.get('api_key') else '' }}", settings=settings
    ) == ("Bearer k")
    assert render("{{ model.startswith('databricks-claude-') }}", model="databricks-claude-x") == "True"
    assert render("{{ model | upper | replace('-', '_') }}", model="a-b") == "A_B"
    assert render("{{ {'a': 1} | tojson }}-{{ range(3) | list | join(',') }}") == '{"a": 1}-0,1,2'
    assert render("{% if x %}{% set y = 'on' %}{% else %}{% set y = 'off' %}{% endif %}{{ y }}", x=1) == "on"
    module = render_module(compile_template("{% set _p = 'x' %}{% set url = _p ~ 'y' %}"), {})
    assert module == {"url": "xy"}  # `_` names are helpers, not exported


@pytest.mark.parametrize(
    ("source", "message", "line", "near"),
    [
        ("{% include 'x.j2' %}", "`{% include %}` is not allowed", 1, "include"),
        ("a\n{% import 'x.j2' as x %}", "`{% import %}` is not allowed", 2, "import"),
        ("{% from 'x.j2' import y %}", "`{% from %}` is not allowed", 1, "from"),
        ("{% extends 'base.j2' %}", "`{% extends %}` is not allowed", 1, "extends"),
        ("{% for i in range(3) %}{% endfor %}", "`{% for %}` is not allowed", 1, "for"),
        ("{% macro m() %}{{ m() }}{% endmacro %}", "`{% macro %}` is not allowed", 1, "macro"),
        ("{{ range(10**9) | length }}", "range of 1,000,000,000 items", 1, "range"),
        ("\n\n{{ 'x' * 10**9 }}", "the repeated value would be longer", 3, "*"),
        ("{{ [0] * 10**6 }}", "the repeated value would be longer", 1, "*"),
        ("{{ 10 ** 100000 }}", "is too large a number", 1, "**"),
        ("{{ '%0999999999d' % 1 }}", "`%` string formatting is not allowed", 1, "%"),
        ("{{ '{:>999999999}'.format(1) }}", "attribute 'format' of 'str' object is unsafe", 1, "format"),
        ("{% set a = 'x' * 40000 %}{{ a + a }}", "the sum would be longer", 1, "+"),
        ("{% set a = 'x' * 40000 %}{{ a ~ a }}", "the text would be longer", 1, None),
        (
            "{% set a = 'x' * 40000 %}{% set b %}{{ a }}{{ a }}{% endset %}",
            "the text would be longer",
            1,
            None,
        ),
        ("{{ ('x' * 1000) | replace('x', 'y' * 1000) }}", "the replaced text would be longer", 1, "replace"),
        ("{{ ('x' * 1000).replace('x', 'y' * 1000) }}", "the replaced text would be longer", 1, "replace"),
        ("{{ ('x' * 60000).join(['a', 'b', 'c']) }}", "the joined text would be longer", 1, "join"),
        ("{{ 'x' | center(10**9) }}", "No filter named 'center'", 1, "center"),
        ("{{ lipsum(10**9) }}", "'lipsum' is undefined", 1, "lipsum"),
        ("{{ ''.__class__ }}", "unsafe", 1, "__class__"),
        ("{{ settings.update({'a': 1}) }}", "unsafe", 1, "update"),
        ("{{ nope }}", "'nope' is undefined", 1, "nope"),
        ("{{ 1 / 0 }}", "ZeroDivisionError", 1, None),
        ("{{ unclosed", "unexpected end of template", 1, None),
        ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "", None, None),
    ],
)
def test_mistakes_and_bombs_are_problems_with_a_line(
    source: str, message: str, line: int | None, near: str | None
) -> None:
    with pytest.raises(TemplateProblem) as info:
        render(source, settings={})
    assert message in info.value.message
    if line is not None:
        assert info.value.line == line
    assert info.value.near == near


def test_output_is_bounded() -> None:
    assert len(render("{{ 'x' * 60000 }}")) == 60000
    with pytest.raises(TemplateProblem, match="longer than"):
        render("{{ 'x' * 60000 }}{{ 'x' * 60000 }}")
    assert MAX_SIZE == 64 * 1024


@pytest.mark.parametrize(
    ("name", "segment"),
    [("gpt-4o", "gpt-4o"), ("a/b", "a%2Fb"), ("a?b#c", "a%3Fb%23c"), ("a%2Fb", "a%252Fb"), ("..x", "..x")],
)
def test_path_segment(name: str, segment: str) -> None:
    assert path_segment(name) == segment


@pytest.mark.parametrize("name", ["", ".", ".."])
def test_path_segment_refuses_dot_segments(name: str) -> None:
    with pytest.raises(Exception, match="cannot be a URL path segment"):
        path_segment(name)
