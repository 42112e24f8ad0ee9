"""Previews of a plan: exactly what would be sent, rendered without sending anything.

Pure functions of a `Plan` and a display timezone:

    render_json(plan, tz)                 -> str   one object per planned send
    render_table(plan, tz, color=...)     -> str   terminal listing by day, then the summary
    render_html(plan, tz, title=...)      -> str   one self-contained page: calendar + summary
    summarize(plan, tz)                   -> Summary   what the table and the page report

Each view also takes the preview's `Annotations` (botops.preview.notes): notes on sends the
daemon does not make or that show sample figures, and warnings about unmatched playbooks.
"""

from botops.preview.html_view import render_html
from botops.preview.json_view import render_json
from botops.preview.notes import Annotations, annotate
from botops.preview.summary import StaffDay, Summary, summarize
from botops.preview.table_view import render_table

__all__ = [
    "Annotations",
    "StaffDay",
    "Summary",
    "annotate",
    "render_html",
    "render_json",
    "render_table",
    "summarize",
]
