"""The class's scores as text: one column per student, one row per graded cell, totals last."""
from autograder import sample_class

Scores = dict[str, dict[str, tuple[float | None, float]]]   # {student: {cell: (score or None, max score)}}


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut to `width` characters with "..."."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def sample_order(scores: Scores) -> list[str]:
    """The students of `scores`, the sample class's first (in its order), then the others sorted."""
    known = [s for s in sample_class.STUDENTS if s in scores]
    return known + sorted(set(scores) - set(known))


def format_table(assignment: str, scores: Scores) -> str:
    """The table of `scores` (as course.cell_scores reads them); "manual" where a cell awaits a grader."""
    cells = list(next(iter(scores.values())).keys()) if scores else []
    width = max(len(c) for c in cells + ["student"])
    header = f"{'':{width}}" + "".join(f"{s:>10}" for s in sample_order(scores))
    lines = [f"== {assignment} ==", header]
    for cell in cells:
        row = f"{cell:{width}}"
        for student in sample_order(scores):
            score, max_score = scores[student][cell]
            row += f"{'manual' if score is None else f'{score:g}/{max_score:g}':>10}"
        lines.append(row)
    totals = f"{'TOTAL':{width}}"
    for student in sample_order(scores):
        got = sum(s or 0 for s, _ in scores[student].values())
        total = sum(m for _, m in scores[student].values())
        totals += f"{f'{got:g}/{total:g}':>10}"
    lines.append(totals)
    return "\n".join(lines)
