"""Templates are bounded work (SPEC §12, R-DEL-2; issue 14): a template's size, its
directives, the table directives once each, and a preview's pages; a template error
names the template's file, never the directory it is in (peers read the message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from billingd.errors import NotFound
from billingd.rendering import RenderContext, default_template_dirs
from billingd.templates import (
    MAX_DIRECTIVES,
    MAX_TEMPLATE_BYTES,
    ONCE_DIRECTIVES,
    TemplateError,
    find_template,
    load_template,
    parse_template,
)


@pytest.mark.parametrize("keyword", sorted(ONCE_DIRECTIVES))
def test_r_del_2_a_table_directive_appears_once(keyword: str) -> None:
    with pytest.raises(TemplateError, match=rf"^x\.tpl:4: {keyword} may appear once \(it is on"):
        parse_template(f"heading x\n{keyword}\n\n{keyword}\n", "x.tpl")


def test_r_del_2_directives_are_counted() -> None:
    assert len(parse_template("rule\n" * MAX_DIRECTIVES).directives) == MAX_DIRECTIVES
    text = "# a comment\n\n" + "rule\n" * (MAX_DIRECTIVES + 1)
    with pytest.raises(TemplateError, match=rf"^x\.tpl:{MAX_DIRECTIVES + 3}: more than"):
        parse_template(text, "x.tpl")


def test_r_del_2_template_size_and_errors_name_the_file_not_its_directory(
    tmp_path: Path,
) -> None:
    big = tmp_path / "big.tpl"
    big.write_text("# x\n" * (MAX_TEMPLATE_BYTES // 4 + 1))
    with pytest.raises(TemplateError) as refused:
        load_template(big)
    assert refused.value.message == "big.tpl: template is larger than 16 KiB"
    broken = tmp_path / "broken.tpl"
    broken.write_text("text {totl}\n")
    with pytest.raises(TemplateError) as refused:
        load_template(broken)
    assert refused.value.message.startswith("broken.tpl:1: unknown placeholder {totl}")
    assert str(tmp_path) not in str(refused.value.to_error())
    with pytest.raises(NotFound) as missing:
        find_template("nope.tpl", default_template_dirs(tmp_path))
    assert str(tmp_path) not in missing.value.message
    assert "templates" in missing.value.message and "/work" not in missing.value.message


def test_r_del_2_a_render_stops_past_its_page_budget(loaded_plugins, tmp_path: Path) -> None:
    """A preview is a read: its pages are bounded (``RenderContext.max_pages``)."""
    (tmp_path / "tall.tpl").write_text("space 250\ntext a page\n" * 25)
    renderer = loaded_plugins.renderer("pdf")
    context = RenderContext(default_template_dirs(tmp_path), template="tall.tpl", preview=True)
    assert renderer.render({"kind": "invoice"}, context).startswith(b"%PDF")
    context.max_pages = 10
    with pytest.raises(TemplateError, match=r"^tall\.tpl:\d+: the document would have more"):
        renderer.render({"kind": "invoice"}, context)
