"""`python -m autograder report ASSIGNMENT`: one HTML page on how the class did, with PNG charts.

Reads the engine's results (<course>/.convbook/results/<assignment>/*.json, written by `grade`) and draws
the score histogram, the pass rate of every test cell, and how often each catalogued mistake was
diagnosed (the diagnosis phrases of `autograder.mistakes`) across the class.
"""
import html
import json
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from autograder.engine.batch import Batch
from autograder.engine.grade import SubmissionResult
from autograder.mistakes import mistakes_for


def load_results(root: str | Path, assignment: str) -> list[SubmissionResult]:
    folder = Batch(Path(root).resolve(), assignment).results_dir / assignment
    results = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        data.pop("fingerprint", None)
        results.append(SubmissionResult.from_json(data))
    return results


def mistake_counts(results: list[SubmissionResult], assignment: str) -> dict[str, int]:
    """{diagnosis phrase: number of students whose feedback contains it}, most frequent first.

    The phrases are those of the assignment's mistake catalogue (several mistakes may share one).
    """
    phrases = sorted({m.diagnosis for m in mistakes_for(assignment) if m.diagnosis})
    counts = Counter()
    for result in results:
        text = " ".join(c.error for c in result.cells if not c.passed)
        counts.update(phrase for phrase in phrases if phrase in text)
    return dict(counts.most_common())


def pass_rates(results: list[SubmissionResult]) -> dict[str, float]:
    """{test cell: fraction of students who passed it}, in notebook order."""
    rates = {}
    for cell in results[0].cells:
        rates[cell.grade_id] = sum(c.passed for r in results for c in r.cells if c.grade_id == cell.grade_id) / len(results)
    return rates


def _bar_chart(path, labels, values, title, xlabel, xlim=None):
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color="#4c72b0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if xlim:
        ax.set_xlim(*xlim)
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(root: str | Path, assignment: str, out_dir: str | Path | None = None) -> Path | None:
    """Write index.html and its PNG charts; returns the HTML path (None if nothing was graded yet)."""
    results = load_results(root, assignment)
    if not results:
        return None
    out = Path(out_dir or Path(root) / "reports" / assignment)
    out.mkdir(parents=True, exist_ok=True)

    scores = [r.score for r in results]
    max_score = results[0].max_score
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(scores, bins=min(20, max(5, int(max_score) + 1)), range=(0, max_score), color="#4c72b0")
    ax.set_title(f"{assignment}: autograded score of {len(results)} students")
    ax.set_xlabel(f"points (of {max_score:g})")
    ax.set_ylabel("students")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=100)
    plt.close(fig)

    rates = pass_rates(results)
    _bar_chart(out / "pass_rates.png", list(rates), [100 * v for v in rates.values()],
               "share of students passing each test cell", "% of students", (0, 100))
    mistakes = mistake_counts(results, assignment)
    if mistakes:
        _bar_chart(out / "mistakes.png", list(mistakes), list(mistakes.values()),
                   "diagnosed mistakes across the class", "students")

    flagged = [(r.student, f) for r in results for f in r.flags]
    rows = "".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(f)}</td></tr>" for s, f in flagged)
    mean = sum(scores) / len(scores)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{assignment}: class report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} td{{padding:.2em .8em}}</style></head>
<body><h1>{assignment}: class report</h1>
<p>{len(results)} students, mean {mean:.1f} of {max_score:g} autograded points
(written answers are graded by hand in formgrader and are not included).</p>
<h2>Scores</h2><img src="scores.png" alt="score histogram">
<h2>Pass rate per test cell</h2><img src="pass_rates.png" alt="pass rate per test cell">
<h2>Diagnosed mistakes</h2>
{'<img src="mistakes.png" alt="diagnosed mistakes">' if mistakes else '<p>None of the catalogued mistakes was diagnosed.</p>'}
<h2>Flagged for a look</h2>
{f'<table><tr><th>student</th><th>what</th></tr>{rows}</table>' if rows else '<p>Nothing suspicious.</p>'}
</body></html>
"""
    (out / "index.html").write_text(page)
    return out / "index.html"
