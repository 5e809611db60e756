"""The hidden solution module of each assignment, built from its source notebook.

The solutions are written once, in the answer cells of `source/<assignment>/<assignment>.ipynb`; this
module turns them into an importable module (imports cell + code answer cells), for the checks and tests.
"""
import ast
import types

from autograder import notebook_cells
from autograder.paths import source_notebook


def solution_code(nb, answers=None):
    """Python source of the imports cell, every code answer cell and every locked support cell (one that
    only defines functions the answers call, like cnn_digits' `accuracy`), magics dropped.

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
        elif is_support(cell):
            parts.append(cell.source)
    code = "\n\n".join(parts)
    return notebook_cells.strip_magics(code)


def is_support(cell):
    """A locked instructor code cell that only defines functions (and imports): part of the solution module."""
    if notebook_cells.is_test(cell) or notebook_cells.is_answer(cell) or "nbgrader" not in cell.metadata:
        return False
    try:
        body = ast.parse(notebook_cells.strip_magics(cell.source)).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)) for node in body)


def load_solution(assignment, answers=None):
    """The assignment's solutions as a module object (answers as in `solution_code`)."""
    module = types.ModuleType(f"solutions_{assignment}")
    code = solution_code(notebook_cells.read(source_notebook(assignment)), answers)
    exec(compile(code, f"<solution {assignment}>", "exec"), module.__dict__)
    return module
