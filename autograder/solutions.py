"""The hidden solution module of each assignment, built from its source notebook.

The solutions are written once, in the answer cells of `source/<assignment>/<assignment>.ipynb`; this
module turns them into an importable module (imports cell + code answer cells), for the checks and tests.
"""
import types

from autograder import notebook_cells
from autograder.paths import source_notebook


def solution_code(nb, answers=None):
    """Python source of the imports cell and every code answer cell, magics dropped.

    answers: optional {grade_id: source} overriding the notebook's own answers (e.g. a mistake).
    """
    answers = {**notebook_cells.answers(nb), **(answers or {})}
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "imports" in cell.metadata.get("tags", []):
            parts.append(cell.source)
        elif notebook_cells.is_answer(cell):
            parts.append(answers[notebook_cells.grade_id(cell)])
    code = "\n\n".join(parts)
    return notebook_cells.strip_magics(code)


def load_solution(assignment, answers=None):
    """The assignment's solutions as a module object (answers as in `solution_code`)."""
    module = types.ModuleType(f"solutions_{assignment}")
    code = solution_code(notebook_cells.read(source_notebook(assignment)), answers)
    exec(compile(code, f"<solution {assignment}>", "exec"), module.__dict__)
    return module
