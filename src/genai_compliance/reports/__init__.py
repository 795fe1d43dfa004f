"""The HTML compliance report (inline SVG charts, no scripts) and its JSON data."""

from ._report import ReportData, build_report, collect, render_html

__all__ = ["ReportData", "build_report", "collect", "render_html"]
