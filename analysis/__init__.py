"""Results → tables and plots. Reads ``lra.results`` (the ``result.json`` schema) and W&B runs; never trains.

``collect`` (runs from job directories, offline W&B files, the W&B API) → ``runs`` (the runs table and its
columns) → ``experiments`` (mixed experiments kept apart) → ``aggregate`` (mean ± std over seeds per cell) →
``tables`` + ``formats`` (Markdown, LaTeX, CSV) and ``plots`` (PNG, SVG), with ``references`` (published numbers)
and ``bench`` (micro-benchmark results) → ``report`` (``report.md``) → ``cli`` (``lra-report``).
"""
