"""Render a :class:`analysis.tables.Table` as Markdown, LaTeX (booktabs) or CSV, and write all three."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.tables import Table
from lra.io import atomic_write_text

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "†": r"\dag{}",
    "—": "---",
    "–": "--",
    "…": r"\ldots{}",
    "−": "--",
    "<": r"$<$",
    ">": r"$>$",
}


def _pipe(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def to_markdown(table: Table, title: bool = False) -> str:
    """A GitHub Markdown table, its notes below it as a list; ``title`` adds the title as bold text above."""
    lines = [f"**{table.title}**", ""] if title else []
    lines += [_pipe(table.header), "|" + "---|" * len(table.header)]
    lines += [_pipe(row) for row in table.rows]
    if table.notes:
        lines += ["", *(f"- {note}" for note in table.notes)]
    return "\n".join(lines)


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def to_latex(table: Table) -> str:
    """A ``table`` float holding a booktabs ``tabular`` with the notes in small type under it."""
    align = "ll" + "r" * (len(table.header) - 2)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(cell) for cell in table.header) + r" \\",
        r"\midrule",
    ]
    for index, row in enumerate(table.rows):
        if index in table.rules:
            lines.append(r"\midrule")
        lines.append(" & ".join(latex_escape(cell) for cell in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
        lines += [latex_escape(note) + r"\par" for note in table.notes]
        lines.append(r"\end{minipage}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def write_tables(tables: list[Table], stem: Path) -> list[Path]:
    """``<stem>.md``, ``<stem>.tex`` (the tables one after the other) and ``<stem>.csv`` (their numbers)."""
    markdown = "\n\n".join(to_markdown(table, title=True) for table in tables) + "\n"
    latex = "\n\n".join(to_latex(table) for table in tables) + "\n"
    numbers = pd.concat([table.data for table in tables], ignore_index=True).to_csv(index=False)
    paths = [stem.with_suffix(".md"), stem.with_suffix(".tex"), stem.with_suffix(".csv")]
    for path, text in zip(paths, (markdown, latex, numbers), strict=True):
        atomic_write_text(path, text)
    return paths
