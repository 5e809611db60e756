"""Reading nbgrader cells: which are answers, which are tests, and the solution code they hold."""
import nbformat

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def read(path):
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


def is_answer(cell):
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell):
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_display(cell):
    """An instructor cell that only shows something (a plot, a demonstration run): no test depends on it,
    so the grading engine does not run it again in the grader (it ran in the student's notebook)."""
    return "display" in cell.get("metadata", {}).get("tags", [])


def points(cell):
    return nbgrader_meta(cell).get("points", 0)


def strip_solution_markers(source):
    """The source with the BEGIN/END SOLUTION marker lines removed (what a student would type)."""
    lines = [line for line in source.splitlines() if line.strip() not in SOLUTION_MARKERS]
    return "\n".join(lines)


def answers(nb):
    """{grade_id: answer text without markers} for every answer cell of a source notebook."""
    return {grade_id(c): strip_solution_markers(c.source) for c in nb.cells if is_answer(c)}


def with_answers(nb, replacements):
    """A copy of notebook `nb` whose answer cells named in `replacements` hold the given sources."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if is_answer(cell) and grade_id(cell) in replacements:
            cell.source = replacements[grade_id(cell)]
    return nb


def strip_magics(source: str) -> str:
    """The cell's source without IPython's magic (%) and shell (!) lines, so that Python can run it."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
