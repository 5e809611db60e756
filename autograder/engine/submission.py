"""Reading a submitted notebook whatever state it is in, and noticing what looks like tampering.

Nothing here runs student code: notebooks are parsed as JSON, code as an AST.
"""
import ast
import json
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import notebook_cells

MAX_NOTEBOOK_BYTES = 20 << 20


@dataclass
class Submission:
    """A student's notebook as far as it could be read.

    nb: the notebook (nbformat v4, unique cell ids, outputs dropped), or None if it could not be read.
    problems: sentences for the student on why the notebook could not be (fully) read.
    flags: sentences for the instructor on what looks like tampering.
    """

    path: Path | None
    nb: object = None
    problems: list = field(default_factory=list)
    flags: list = field(default_factory=list)


def find_notebook(folder, assignment):
    """The submitted notebook of `assignment` in `folder`: (path or None, problems)."""
    expected = Path(folder) / f"{assignment}.ipynb"
    if expected.is_file():
        return expected, []
    others = sorted(p for p in Path(folder).glob("*.ipynb") if p.is_file())
    if len(others) == 1:
        return others[0], [f"Your notebook is named {others[0].name}, not {expected.name}; it was graded anyway."]
    if others:
        names = ", ".join(p.name for p in others)
        return None, [f"No {expected.name} was submitted, and several other notebooks were ({names}): "
                      "rename the one to grade."]
    return None, [f"No notebook was submitted: {expected.name} is missing."]


def read_submission(folder, assignment):
    path, problems = find_notebook(folder, assignment)
    submission = Submission(path, problems=problems)
    if path is None:
        return submission
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        submission.problems.append(f"Your notebook is {size / 2**20:.1f} MiB, over the limit of "
                                   f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB (clear large outputs and submit again).")
        return submission
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        submission.problems.append("Your notebook is not a text file (binary data): it could not be read.")
        return submission
    except json.JSONDecodeError as exc:
        submission.problems.append(f"Your notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                   f"{exc.msg}); was it edited outside Jupyter?")
        return submission
    cells = data.get("cells") if isinstance(data, dict) else None
    ids = [c.get("id") for c in cells if isinstance(c, dict) and c.get("id")] if isinstance(cells, list) else []
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        submission.flags.append(f"cell ids {', '.join(map(repr, repeated))} appear more than once (duplicated cells?)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's own notes on repaired ids
            nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:  # nbformat raises several kinds on malformed structure
        submission.problems.append(f"Your file is JSON but not a notebook ({type(exc).__name__}).")
        return submission
    if not isinstance(nb.get("cells"), list):
        submission.problems.append("Your notebook has no list of cells.")
        return submission
    if data.get("nbformat", 4) < 4:
        submission.problems.append(f"Your notebook is in the old format nbformat {data.get('nbformat')}; "
                                   "it was converted and graded.")
    submission.nb = _normalized(nb)
    return submission


def _normalized(nb):
    """Outputs dropped, every cell with a fresh unique id if its own was missing or repeated."""
    seen = set()
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell_id = cell.get("id")
        if not cell_id or cell_id in seen:
            cell["id"] = uuid.uuid4().hex[:12]
        seen.add(cell["id"])
        if not isinstance(cell.get("source", ""), str):
            cell["source"] = "".join(cell["source"])
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    return nb


def test_cell_flags(submission_nb, release_nb):
    """Sentences for the instructor on test cells that were deleted, edited, retyped or duplicated."""
    flags = []
    release_tests = {notebook_cells.grade_id(c): c for c in release_nb.cells if notebook_cells.is_test(c)}
    seen = {}
    for cell in submission_nb.cells:
        gid = notebook_cells.grade_id(cell)
        if gid in release_tests:
            seen[gid] = seen.get(gid, 0) + 1
            if cell.cell_type != "code" or not notebook_cells.is_test(cell):
                flags.append(f"test cell {gid}: its type or nbgrader metadata was changed")
            elif cell.source.strip() != release_tests[gid].source.strip():
                flags.append(f"test cell {gid}: its code was edited")
    for gid in release_tests:
        if gid not in seen:
            text = release_tests[gid].source.strip()
            retyped = any(c.source.strip() == text for c in submission_nb.cells if not notebook_cells.grade_id(c))
            flags.append(f"test cell {gid}: " + ("its metadata was removed (retyped as an ordinary cell)"
                                                  if retyped else "deleted"))
        elif seen[gid] > 1:
            flags.append(f"test cell {gid}: appears {seen[gid]} times")
    return flags


def code_flags(cells):
    """Sentences for the instructor on monkeypatching, kernel killing and the like in student code."""
    flags = []
    for index, source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute):
                        flags.append(f"cell {index}: assigns to {ast.unparse(target)} (monkeypatching?)")
            elif isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ("setattr", "set_custom_exc", "_exit", "kill", "fork", "system"):
                    flags.append(f"cell {index}: calls {ast.unparse(node.func)}")
    return sorted(set(flags))
