"""Renderers: plans, diagnostics, image listings and apply results as text, JSON-ready data or Markdown.

Layer: pure core (views). Data in, ``str``/``dict`` out: no printing, no environment, no clock, no
files. Imports only ``model``, ``errors``, ``codec`` and ``plandoc``, and the provider registry for
one piece of declared wording (``consumes_wording``). ``cli`` decides where the output goes and
whether colour is wanted (TTY, ``NO_COLOR``).

Every user-supplied string (image names, labels, reasons, messages, whether from the file, the live
catalog or a saved plan) is treated as untrusted: every human view passes it through
``escape_controls``, so a name cannot smuggle terminal escape sequences and a bidi control cannot
make a pull-request comment read differently from what it does (docs/security.md), and the
Markdown view also escapes table/HTML syntax so a label cannot break the comment's structure.

The package:

==================  ===============================================================================
``escape.py``       ``escape_controls``, ``md_escape``, HTML escaping, a field value as JSON
``common.py``       terminal colours, counted words, destructive-first order, "consumes VM" wording
``text.py``         the plan for a terminal or CI log, its footer; the plan as JSON
``markdown.py``     the plan as one pull-request comment within a size budget
``diagnostics.py``  diagnostics as text, JSON-ready data or GitHub Actions workflow commands
``listings.py``     which images a listing shows; images and families as a table or JSON
``report.py``       the apply report, text and JSON
``lifecycle.py``    held removes, storage footprints and totals, ``consumers`` as a table or JSON
==================  ===============================================================================
"""

from __future__ import annotations

from ..plandoc import FORMAT_VERSION, is_destructive
from .common import consumes_wording, destructive_first
from .diagnostics import render_diagnostics_github, render_diagnostics_json, render_diagnostics_text
from .escape import escape_controls, md_escape
from .listings import (
    families_json,
    filter_images,
    newest_per_family,
    publishers_json,
    render_families,
    render_images_json,
    render_images_table,
    render_public_json,
    render_public_table,
    render_publishers,
)
from .markdown import markdown_marker, markdown_summary, markdown_title, render_plan_markdown
from .report import apply_report_json, render_apply_report
from .text import footer, render_plan_json, render_plan_text

__all__ = [
    "FORMAT_VERSION",
    "apply_report_json",
    "consumes_wording",
    "destructive_first",
    "escape_controls",
    "families_json",
    "filter_images",
    "footer",
    "is_destructive",
    "markdown_marker",
    "markdown_summary",
    "markdown_title",
    "md_escape",
    "newest_per_family",
    "publishers_json",
    "render_apply_report",
    "render_diagnostics_github",
    "render_diagnostics_json",
    "render_diagnostics_text",
    "render_families",
    "render_public_json",
    "render_public_table",
    "render_publishers",
    "render_images_json",
    "render_images_table",
    "render_plan_json",
    "render_plan_markdown",
    "render_plan_text",
]
