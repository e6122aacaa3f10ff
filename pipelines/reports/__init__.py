"""Reports people look at, built from the published warehouse: a QBR pack per account
(Markdown and HTML), a monthly update email draft (text) and the CS leader's portfolio
page (one self-contained HTML file).

Figures come from `mart.*` over a read-only connection (data.py), charts from Altair
rendered by vl-convert (charts.py), text from the Jinja2 templates in templates/
(render.py, which has the `write_*` entry points). Importing this package loads neither
Altair nor Jinja2.
"""

from pipelines.reports.data import ReportError

__all__ = ["ReportError"]
