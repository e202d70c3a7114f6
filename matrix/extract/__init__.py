"""Extracting a plan's responsibility matrix from the document it was written as, for review before import.

``extract(text, source=…, base_year=…, plan_code=…, part=…)`` reads a plan written in the genre of
Chinese government work plans (工作方案, 實施方案, 工作計劃) and returns an ``Extraction``: the plan
as the canonical YAML document (``plan``, written by ``to_yaml()`` with the source line of every
field), every line it could not place (``leftovers``, never dropped silently) and everything it
cleaned or assumed (``notes``). ``read_document(path)`` reads a .txt (UTF-8 or GBK) or .docx file.
Pure apart from ``read_document``: no database, no clock.

What it reads, in simplified or traditional script (also mixed), full- or half-width punctuation:

- numbering: 一、 (一) 1. (1) ① and 第一部分 / 第一階段, and dotted outlines (3.2.1); the code of a
  task is its numbering path (三、(二)1. → "3.2.1"; a dotted number is kept as written). The
  headings above a task are its ``section``; the heading's own text is its ``title``.
- field lines ``label:value`` (also inline after a heading, several on one line, and 【label】value):
  目標要求 / 目標任務 … → target, 牽頭領導 / 責任領導 / 分管領導 … → lead officials, 牽頭單位 /
  主責單位 … → lead unit, 配合單位 / 協辦單位 … → supporting units, 責任單位 → the first unit leads
  unless a 牽頭單位 is named, 時間要求 / 完成時限 … → deadline, 任務 / 事項 → title, 一票否決.
  A measure that ends with ``(責任單位:A、B)`` (any of these labels, several separated by ;) gets
  its units from that note; ``A(牽頭)`` in a unit list marks the lead.
- officials as 姓名(職務), 職務姓名 (常務副縣長張三), 職務 姓名, or names alone; several per task.
- work stages: children of a 工作步驟 / 實施步驟 / 時間安排 … section, or any heading ending in 階段,
  with their dates in the heading: (2015年7月17日前), ranges, two dates; current-work items: the
  numbered items of a 當前工作 / 近期工作 … section, each with the date its text names (if any).
- a 牽頭領導, 配合單位 or 時間要求 given once under a heading (or a date in the heading itself) holds
  for every task below it that names none; a numbered list right before a task's fields (1.… 2.…
  牽頭單位:…) is that task's text.
- the header: the title (also one broken over two lines, or inside 關於印發《…》的通知), the issuer,
  the document number, the issue date (above the body or as the signature at the end), and the
  addressees and covering sentence of a 印發 notice.
- tables: a .docx table (or the same table pasted into text: tab-separated cells, a cell's further
  paragraphs breaking the row, blanks under merged cells) whose header (one row, or two: 責任單位 over
  牽頭單位 | 配合單位) names the matrix columns (序號, 類別, 任務, 目標要求, 牽頭領導, 牽頭單位, 配合單位,
  時間要求 …) is read row by row (``tables``): merged cells hold for the rows and columns they span, a
  row merged across and the 類別 column are the section, the 序號 the code. Word's automatic list
  numbering is put back in front of the paragraph text (in table cells too). Line numbers of a .docx
  are those of the lines ``read_document`` returns (a paragraph, a table cell or a table row's field).
- measures that name no unit (``measures``): led by the subject their text names, else by the plan's
  default unit (``default_unit``, or 由…牽頭 in the opening). What could not be read (a deadline or
  official cell) or was assumed (a default unit) is kept in the task with a ``review`` reason.

Noise that real documents carry is cleaned, and each cleaning is listed in ``notes``:
pinyin after characters (區(qū) → 區: only a parenthesised Latin run with a tone mark, so 區紀委
(監察局) is untouched); page numbers inside lines (戰 3 斗力: a 1–3 digit number with space after it
inside Chinese text, not followed by a measure word unless it continues the page sequence) and on
lines of their own (- 3 -, 第3頁); fields broken across lines (a line that does not end a sentence
continues on the next; a broken official's title is joined with 、 when the first half is a complete
title: 區委副書記 / 區長 → 區委副書記、區長). Characters broken by a bad encoding (程序?qū)ω毨暨M行)
cannot be repaired reliably: they stay in the text and their line is a leftover.

A document holding several documents (``第一篇 … 第五篇`` headings, as the seed file does) is split
at those headings: ``part=N`` picks one; by default the part with the most tasks is extracted and
every other part is one leftover naming its ``--part``. The base year is ``base_year``, else the
year in the title, else the year of the issue date, else the earliest year any deadline names.
A task without any deadline gets the end of the base year, said in ``notes`` and in a YAML comment.

The package, in the order a document passes through it: ``reading`` (files → lines; ``tables`` turns
matrix tables into lines), ``cleaning`` (noise removed, text that continues), ``structure`` and
``fields`` (headings, ``label:value`` pieces), ``parser`` (header and block tree), ``builder`` (tasks
and stages; ``people`` reads officials and units), ``extractor`` (``extract`` itself) and
``yaml_writer``; ``vocabulary`` holds the patterns and labels they share, ``results`` what they return.
"""

from __future__ import annotations

from duban.matrix.extract.extractor import extract
from duban.matrix.extract.reading import read_document
from duban.matrix.extract.results import Extraction, Leftover, Note

__all__ = ["Extraction", "Leftover", "Note", "extract", "read_document"]
