"""The HTML compliance report (inline SVG charts, no scripts) and its JSON data."""

from .._exports import publish as _publish
from ._report import ReportData, build_report, collect, render_html

__all__ = ["ReportData", "build_report", "collect", "render_html"]

_publish(__name__, globals(), __all__)
