"""A figure = a table (accessible, copyable, downloadable as CSV) and its chart.

Charts are SVG rendered on the server by pygal: no script in the page, nothing fetched
from the network (pygal's optional tooltip script is switched off), and the same numbers
feed the chart, the table beside it and the CSV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import pygal
from markupsafe import Markup
from pacte_common.csv_export import CsvWriter
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2937",
    foreground_strong="#111827",
    foreground_subtle="#6b7280",
    colors=("#1d4ed8", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626"),
    font_family="system-ui, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    title_font_size=14,
    value_font_size=11,
    no_data_font_size=20,  # pygal draws it at 64 px: wider than a card on a phone
)


@dataclass
class Figure:
    id: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    kind: Literal["bar", "hbar", "stacked"] = "bar"
    note: str = ""
    # How many value columns (after the label) the chart draws; the table shows them all.
    charted: int | None = None

    @property
    def empty(self) -> bool:
        return not any(_number(v) for row in self.rows for v in row[1:])

    def svg(self) -> Markup:
        chart_class = {"bar": pygal.Bar, "hbar": pygal.HorizontalBar, "stacked": pygal.StackedBar}[self.kind]
        chart = chart_class(
            style=STYLE,
            js=[],  # no tooltip script from a CDN: the console works offline
            disable_xml_declaration=True,
            width=640,
            height=320,
            show_legend=(len(self.columns) if self.charted is None else 1 + self.charted) > 2,
            legend_at_bottom=True,
            print_values=len(self.rows) <= 8,
            x_label_rotation=30 if len(self.rows) > 8 else 0,
            min_scale=1,
            max_scale=6,
            no_data_text="No data for these filters",
            explicit_size=False,
        )
        chart.x_labels = [str(row[0]) for row in self.rows]
        last = len(self.columns) if self.charted is None else 1 + self.charted
        for index, name in enumerate(self.columns[1:last], start=1):
            chart.add(name, [_number(row[index]) for row in self.rows])
        # pygal inlines its config as a <script>: not needed without its tooltips, and dropped
        # so that the page runs no inline script (Content-Security-Policy script-src 'self').
        svg = _SCRIPT.sub("", chart.render(is_unicode=True))
        return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{_escape(self.title)}" ', 1))

    def csv(self) -> str:
        writer = CsvWriter()  # formula cells neutralised (territory codes, names)
        writer.writerow(self.columns)
        writer.writerows(["" if v is None else v for v in row] for row in self.rows)
        return writer.text()


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
