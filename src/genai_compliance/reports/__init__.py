"""The HTML compliance report (inline SVG charts, no scripts) and its JSON data."""

from .._exports import publish as _publish
from ._registry import IMPLEMENTATION_MODULES, implementations, rules_table
from ._report import ReportData, build_report, collect, render_html

__all__ = ["IMPLEMENTATION_MODULES", "ReportData", "build_report", "collect", "implementations",
           "render_html", "rules_table"]

_publish(__name__, globals(), __all__)
