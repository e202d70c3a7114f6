"""The weekly report rendered: HTML and Markdown from the templates, with the SVG chart, the DOCX and a
circulation-criticism notice per criticised unit.

- HTML (``templates/<lang>/weekly_report.html.j2``, on the official red-header layout the notices
  use, inline CSS only, so the same file is the email body and a standalone page) with the chart as
  inline SVG;
- Markdown (``weekly_report.md.j2``), which refers to the chart as an SVG file beside it and is the
  plain-text part of the email; every value in it is escaped Markdown (``md_escape``);
- DOCX (``report.docx``);
- the circulation-criticism notices (通報批評), one per criticised unit, as HTML (the notices'
  ``criticism`` template) and DOCX.

Wording lives in the templates (``weekly_macros.j2`` holds the words and sentences the DOCX uses
too, read here through ``Words``), written once in simplified script for Chinese; the output is
converted to the chosen script as the notices are. Same report in → same bytes out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from duban.matrix.errors import ConfigError
from duban.matrix.scoring import Circulation
from duban.notifications.render import Letterhead, Renderer
from duban.notifications.report.chart import chart_svg
from duban.notifications.report.docx import DocxPackage, criticism_body, report_body
from duban.notifications.report.model import ItemView, WeeklyReport, _unique_stem, criticism_file_stem, family, num

__all__ = ["ReportDocuments", "render_report", "md_escape"]


@dataclass
class ReportDocuments:
    subject: str
    html: str | None = None
    markdown: str | None = None
    svg: str | None = None
    docx: bytes | None = None
    criticism: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit -> {html, docx, subject, stem}



# Markdown: what a value may not carry as itself. HTML's < > become entities (so do & that would start one);
# Markdown's own marks get a backslash; any run of whitespace (a line break in a name) is one space, so a
# value never ends a table row or starts a block.
_MD_SPECIAL = re.compile(r"[\\`*_\[\]#|~]")
_MD_HTML = re.compile(r"[<>]|&(?=#|[A-Za-z][A-Za-z0-9]*;)")
_MD_HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_SPACE = re.compile(r"\s+")


def md_escape(value: Any) -> Markup:
    """A value as Markdown text: it reads as written and cannot open a tag, a link, emphasis, code, a
    heading or a table cell. Already escaped text (a ``Markup`` from a macro) only has its spaces folded."""
    if isinstance(value, Markup):
        return Markup(_SPACE.sub(" ", str(value)))
    text = _SPACE.sub(" ", str(value))
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    return Markup(_MD_HTML.sub(lambda m: _MD_HTML_ENTITIES[m.group(0)[0]], text))


def _md_finalize(value: Any) -> Any:
    """Every ``{{ value }}`` of the Markdown report (and of the macros it imports) is escaped Markdown."""
    return md_escape(value)


def _markdown_env(renderer: Renderer) -> Any:
    """The renderer's environment for the Markdown report: the same templates, filters and globals, but every
    value printed through ``md_escape`` (autoescape makes each macro's result escaped Markup, so nothing is
    escaped twice; the template's own text is Markdown, as written)."""
    env = getattr(renderer, "_markdown_env", None)
    if env is None:
        env = renderer.env.overlay(autoescape=True, finalize=_md_finalize)
        renderer._markdown_env = env
    return env


def _render_markdown(renderer: Renderer, name: str, context: dict[str, Any]) -> str:
    import jinja2

    try:
        text = _markdown_env(renderer).get_template(name).render(context)
    except jinja2.TemplateNotFound as e:
        raise ConfigError(f"no template {name!r} for language {renderer.language}") from e
    except jinja2.TemplateError as e:
        raise renderer._error(name, e) from e
    return renderer.in_script(text)


def _filters(renderer: Renderer, lang: str) -> None:
    env = renderer.env
    if "md" in env.filters:
        return
    env.filters.update(
        num=num,
        md=md_escape,
        fact=lambda line, pts=True: renderer.fact(line, pts),  # _lines.j2
    )


def render_report(report: WeeklyReport, renderer: Renderer, *, formats: Iterable[str],
                  criticism: bool = True) -> ReportDocuments:
    """Every document of the report in ``formats`` (html, md, docx), the SVG chart, and (with
    ``criticism``) a notice per criticised unit in HTML and DOCX."""
    formats = set(formats)
    lang = renderer.language
    _filters(renderer, lang)
    words = words_of(renderer)
    subject = renderer.in_script(_one_line(words.subject(report)))
    svg = chart_svg(report.chart, lang) if report.chart is not None else None
    docs = ReportDocuments(subject=subject, svg=renderer.in_script(svg) if svg else None)
    tx = Texts(words, report, family(lang), renderer)
    context = {"r": report, "subject": subject, "letterhead": report.letterhead, "svg": svg,
               "chart_file": f"{report.stem}.svg", "fam": family(lang), "tx": tx}
    if "html" in formats:
        docs.html = renderer.page("weekly_report.html.j2", context)
    if "md" in formats:
        docs.markdown = _render_markdown(renderer, "weekly_report.md.j2", context)
    package = None
    if "docx" in formats or (criticism and report.board.criticised):
        package = DocxPackage(created=report.as_of, language=lang)
    if "docx" in formats:
        docs.docx = package.build(report_body(report, renderer, words, tx), title=subject,
                                  author=renderer.in_script(report.issuer))
    if criticism:
        macros = renderer.macros("_macros.j2")  # the notices' own sentences
        numbers: dict[int, str] = {}
        stems: set[str] = set()
        for k, c in enumerate(report.board.criticised, start=1):
            facts = renderer.facts(c)  # in the data's script, as the report's JSON keeps them; documents convert
            letterhead = Letterhead(issuer=report.issuer, date=report.as_of, number=words.circulation_number(report, k))
            period = words.period(report)
            # The notices' own criticism template (as Renderer.circulation renders it), HTML only: the
            # plain-text version is not needed here, and a large office may criticise hundreds of units.
            notice_subject = renderer.subject("circulation", "criticism", c.unit, period)
            html = renderer.page("criticism.html.j2", {
                "kind": "criticism", "unit": c.unit, "facts": facts, "letterhead": letterhead,
                "rectify_by": report.rectify_by, "period": period, "subject": notice_subject})
            body = criticism_body(c, facts, letterhead, period, report.rectify_by, renderer, macros, words, numbers)
            docs.criticism[c.unit] = {
                "subject": notice_subject, "html": html, "facts": facts,
                "docx": package.build(body, title=notice_subject, author=renderer.in_script(report.issuer)),
                "stem": _unique_stem(criticism_file_stem(renderer.in_script(c.unit), report.as_of), c.unit, stems),
            }
    return docs


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


class Words:
    """The words and sentences of ``weekly_macros.j2`` (plain, unescaped), for the DOCX and subjects."""

    def __init__(self, module: Any) -> None:
        self.m = module
        self.w = module.words

    def __getattr__(self, name: str) -> Any:
        macro = getattr(self.m, name)
        return lambda *a: str(macro(*a))

    def __getitem__(self, key: str) -> str:
        return self.w[key]


def words_of(renderer: Renderer) -> Words:
    return Words(renderer.macros("weekly_macros.j2"))


class Texts:
    """Lines every format shows, computed once (plain text; HTML escapes it) and shared by the formats.

    A plan of 20,000 tasks has 60,000 item lines, most alike: each distinct one is worded once.
    Breakdown and criticism lines are capped per unit (``report.max_lines_per_unit``) with a
    "… N more" line; each criticised unit's own notice has them all.
    """

    def __init__(self, words: Words, report: WeeklyReport, fam: str, renderer: Renderer) -> None:
        self.words, self.fam, self.renderer = words, fam, renderer
        self.cap = report.board.config.report.max_lines_per_unit
        self._items: dict[ItemView, str] = {}
        self._lights: dict[str, str] = {}

    def item(self, i: ItemView) -> str:
        text = self._items.get(i)
        if text is None:
            text = self._items[i] = self.words.item_line(i)
        return text

    def evidence(self, names: tuple[str, ...]) -> str:
        """佐证材料：a.pdf、b.png — a task's evidence files, on a line under its items."""
        label = self.words.w.get("evidence") or ("佐证材料" if self.fam == "zh" else "Evidence")
        return label + ("：" if self.fam == "zh" else ": ") + self.words.w.get("sep", "、").join(names)

    def light(self, colour: str) -> str:
        text = self._lights.get(colour)
        if text is None:
            text = self._lights[colour] = self.words.light(colour)
        return text

    def lines(self, u: Any) -> list[str]:
        if self.cap is None or len(u.lines) <= self.cap:
            return [self.renderer.fact(line) for line in u.lines]
        return [self.renderer.fact(line) for line in u.lines[:self.cap]] + [self.words.more(len(u.lines) - self.cap)]

    def facts(self, c: Circulation) -> list[str]:
        """The circulation's facts as the weekly report lists them (the first ``cap``)."""
        if self.cap is None or len(c.facts) <= self.cap:
            return self.renderer.facts(c)
        return [self.renderer.fact(f, points=False) for f in c.facts[:self.cap]]

    def more_facts(self, c: Circulation) -> str:
        """"… N more" when facts were left out, else ""."""
        if self.cap is None or len(c.facts) <= self.cap:
            return ""
        return self.words.more(len(c.facts) - self.cap)
