"""Native Excel charts on a sheet, drawn by the writer (`sync.xlsx.writer`) from the sheet
model's `Chart`s: each series coloured in turn, placed right of the widest table unless the
chart names its anchor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync.errors import WorkbookError
from sync.xlsx.sheet import Chart, column_letter

CHART_COLOURS = ("1F4E78", "C55A11", "548235", "7F6000", "7030A0")  # series 1, 2, ...
ROW_CM = 0.53  # a default-height row, for placing charts below one another
CM_PIXELS = 37.8  # pixels per centimetre at Excel's 96 dpi


def add(wb: Any, ws, title: str, charts: Sequence[Chart],
                where: dict[str, tuple[int, int, int]]) -> None:
    """Add each chart; charts without an anchor go right of the widest table, each below the
    one before."""
    column = column_letter(max(n for _, _, n in where.values()) + 2)
    free = 1  # the first row below the charts placed so far
    for chart in charts:
        if chart.table not in where:
            raise WorkbookError(f"internal: chart {chart.title!r} names no table {chart.table!r}")
        header, last, _ = where[chart.table]
        if last <= header:
            continue  # no rows: nothing to draw
        anchor = chart.anchor or f"{column}{max(free, header - 1)}"
        if not chart.anchor:
            free = max(free, header - 1) + int(chart.height / ROW_CM) + 2
        ws.insert_chart(anchor, _native(wb, title, chart, header, last))


def _native(wb: Any, title: str, chart: Chart, header: int, last: int) -> Any:
    if chart.kind not in ("bar", "line"):
        raise WorkbookError(f"internal: chart {chart.title!r}: unknown kind {chart.kind!r}")
    native = wb.add_chart({"type": "column" if chart.kind == "bar" else "line"})
    for i, col in enumerate(chart.values):
        colour = "#" + CHART_COLOURS[i % len(CHART_COLOURS)]
        series = {
            "name": [title, header - 1, col - 1],
            "categories": [title, header, chart.categories - 1, last - 1, chart.categories - 1],
            "values": [title, header, col - 1, last - 1, col - 1],
        }
        if chart.kind == "line":
            series.update(line={"color": colour, "width": 3}, marker={"type": "none"})
        else:
            series.update(fill={"color": colour}, border={"color": colour})
        native.add_series(series)
    native.set_title({"name": chart.title})
    native.set_legend({"position": "bottom", "font": {"size": 11}})
    native.set_size({"width": round(chart.width * CM_PIXELS), "height": round(chart.height * CM_PIXELS)})
    x_axis: dict[str, Any] = {}
    if chart.x_title:
        x_axis["name"] = chart.x_title
    if chart.number_format:
        x_axis["num_format"] = chart.number_format
    if x_axis:
        native.set_x_axis(x_axis)
    if chart.y_title:
        native.set_y_axis({"name": chart.y_title})
    return native
