"""The grade report: ``report/index.html`` (distributions, failure rates, submissions that need attention)
and ``report/outcomes.json`` (one :class:`~coursegrader.contracts.Outcome` per submission)."""
from __future__ import annotations

import base64
import html
import io
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from coursegrader.contracts import Outcome
from coursegrader.gradebook import cell_scores, max_cell_scores


def _figure_html(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def write_report(course: Path, names: Sequence[str], outcomes: Sequence[Outcome]) -> Path:
    """``report/index.html``: distributions, failure rates, problems; ``report/outcomes.json``."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    by_key = {(o.student, o.assignment): o for o in outcomes}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Grade report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}.bad{color:#a00}</style></head><body>",
        f"<h1>Grade report: {html.escape(course.name)}</h1>",
        f"<p>{len(outcomes)} submissions; generated {time.strftime('%Y-%m-%d %H:%M')}. Scores are the autograded "
        "points; manually graded answers are added in the formgrader.</p>",
    ]
    problems = [o for o in outcomes if o.status != "graded" or o.timed_out_cells or o.overruled]
    parts.append("<h2>Submissions that need attention</h2>")
    if problems:
        parts.append("<table><tr><th>student</th><th>assignment</th><th>what happened</th></tr>")
        for o in problems:
            if o.status != "graded":
                what = o.status
            elif o.timed_out_cells:
                what = f"{o.timed_out_cells} cell(s) timed out"
            else:
                what = "tests passed in the notebook but failed the independent check (tampering, or code outside the task's cell)"
            detail = f": {o.detail}" if o.detail else (f": {o.overruled}" if o.overruled else "")
            parts.append(f"<tr class='bad'><td>{html.escape(o.student)}</td><td>{html.escape(o.assignment)}</td>"
                         f"<td>{html.escape(what + detail)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None: every submission was graded without a timeout, a crash or a test the independent check overruled.</p>")
    retried = [o for o in outcomes if o.retried]
    if retried:
        # graded once in the gradebook all the same: a retry regrades the same submission in place
        parts.append("<h2>Submissions graded in more than one attempt</h2><table><tr><th>student</th>"
                     "<th>assignment</th><th>attempts</th></tr>")
        parts.extend(f"<tr><td>{html.escape(o.student)}</td><td>{html.escape(o.assignment)}</td>"
                     f"<td>{html.escape(o.retried)}</td></tr>" for o in retried)
        parts.append("</table>")
    for name in names:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        per_cell = cell_scores(course, name)
        maxima = max_cell_scores(course, name)
        maximum = sum(maxima.values())
        values = [sum(per_cell.get(student, {}).values()) for student, assignment in by_key if assignment == name]
        if not values:
            parts.append("<p>No submissions.</p>")
            continue
        figure, axes = plt.subplots(1, 2, figsize=(10, 3))
        axes[0].hist(values, bins=[x - 0.5 for x in range(int(maximum) + 2)], color="tab:blue")
        axes[0].set(title=f"autograded score (max {maximum:g})", xlabel="points", ylabel="students")
        axes[0].yaxis.get_major_locator().set_params(integer=True)
        tests = sorted(maxima)
        rates = [sum(per_cell.get(student, {}).get(t, 0.0) < maxima[t] for student, assignment in by_key
                     if assignment == name) / len(values) for t in tests]
        axes[1].barh(range(len(tests)), rates, color="tab:red")
        axes[1].set_yticks(range(len(tests)), tests, fontsize="small")
        axes[1].invert_yaxis()
        axes[1].set(title="failure rate per test", xlim=(0, 1))
        figure.tight_layout()
        parts.append(_figure_html(figure))
        plt.close(figure)
        mean = sum(values) / len(values)
        parts.append(f"<p>{len(values)} submissions, mean {mean:.2f} / {maximum:g}.</p>")
        parts.append("<table><tr><th>test</th><th>failed</th></tr>")
        for test, rate in zip(tests, rates):
            parts.append(f"<tr><td>{html.escape(test)}</td><td>{rate:.0%}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    report = course / "report"
    report.mkdir(exist_ok=True)
    (report / "index.html").write_text("\n".join(parts))
    (report / "outcomes.json").write_text(json.dumps([asdict(o) for o in outcomes], indent=1))
    return report / "index.html"
