"""The weekly circulation report (周通報) as documents: HTML, Markdown, DOCX, an SVG chart, and the email.

One module per job:

- ``model``: ``WeeklyReport``, everything the report shows, frozen, and the helpers the formats share;
- ``assemble``: the model built from a period's facts (``matrix.report_facts``), called by
  ``workflows.report_service``;
- ``render``: HTML and Markdown from the templates, and every document of a report at once
  (``render_report``), with a circulation-criticism notice (通報批評) per criticised unit;
- ``chart``: the SVG chart; ``docx``: the official-circulation DOCX writer;
- ``mail``: the email: one multipart message (text + HTML, the DOCX attached).

Same report in → same bytes out. The names below are the package's public surface.
"""

from duban.notifications.report.chart import chart_svg
from duban.notifications.report.docx import DocxPackage
from duban.notifications.report.mail import build_report_message
from duban.notifications.report.model import (
    ChartView,
    Headline,
    ItemView,
    OverdueView,
    TaskView,
    UndeliverableView,
    WeeklyReport,
    WeekPoint,
    criticism_file_stem,
)
from duban.notifications.report.render import ReportDocuments, render_report

__all__ = [
    "ItemView", "TaskView", "OverdueView", "UndeliverableView", "WeekPoint", "ChartView", "Headline", "WeeklyReport",
    "ReportDocuments", "render_report", "chart_svg", "DocxPackage", "build_report_message", "criticism_file_stem",
]
