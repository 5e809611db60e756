"""Reading a submitted notebook whatever state it is in, and noticing what looks like tampering.

Nothing here runs student code: notebooks are parsed as JSON, code as an AST. A submission is data:
only regular files inside its folder are read (opened without following links, size-capped, as bytes);
links, devices, pipes and hard links are refused with a note for the student.
"""
from __future__ import annotations

import ast
import json
import os
import stat
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from autograder import notebook_cells

if TYPE_CHECKING:
    from collections.abc import Iterable

MAX_NOTEBOOK_BYTES = 20 << 20
MAX_FILES = 1000  # entries of a submission folder looked at


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


def _refusal(st):
    """Why an entry of a submission folder with lstat result `st` is not read, or None if it may be."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a link (only regular files inside the submission folder are graded)"
    if not stat.S_ISREG(st.st_mode):
        return "it is a device, pipe or socket, not a file"
    if st.st_nlink > 1:
        return "it is a hard link to a file that may lie outside the submission folder"
    return None


def submitted_files(folder: Path | str) -> tuple[dict[str, os.stat_result], list[str]]:
    """The regular files of a submission folder ({path relative to it: lstat result}) and a sentence for
    each entry refused: links, devices, pipes, sockets and hard links are never followed nor read."""
    folder = Path(folder)
    try:
        top = os.lstat(folder)
    except OSError:
        return {}, []
    if not stat.S_ISDIR(top.st_mode):
        return {}, [f"The submission folder {folder.name} is a link or a file, not a folder: nothing was read."]
    files, notes = {}, []
    for place, dirs, names in os.walk(folder):  # links to folders are listed, never entered
        for name in sorted(dirs + names):
            if len(files) + len(notes) >= MAX_FILES:
                notes.append(f"Only the first {MAX_FILES} files of the submission were looked at.")
                return files, notes
            path = Path(place, name)
            relative = str(path.relative_to(folder))
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            why = _refusal(st)
            if why:
                notes.append(f"{relative} was not read: {why}.")
            else:
                files[relative] = st
    return files, notes


def read_file(folder: Path | str, relative: str, limit: int) -> bytes:
    """The bytes of the regular file `relative` inside `folder`, opened without following a link and
    checked again once open; OSError if it is not such a file, ValueError if it holds more than `limit`."""
    path = Path(folder, relative)
    if not os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep):
        raise OSError(f"{relative} resolves outside the submission folder")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        why = _refusal(st)
        if why:
            raise OSError(why)
        if st.st_size > limit:
            raise ValueError(f"{st.st_size} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"more than {limit} bytes")
    return data


def find_notebook(folder: Path | str, assignment: str) -> tuple[Path | None, list[str]]:
    """The submitted notebook of `assignment` in `folder`: (path or None, problems). Only regular files
    directly in the folder count; every entry refused is named in the problems."""
    files, problems = submitted_files(folder)
    expected = f"{assignment}.ipynb"
    if expected in files:
        return Path(folder) / expected, problems
    others = sorted(name for name in files if name.endswith(".ipynb") and os.sep not in name)
    if len(others) == 1:
        renamed = f"Your notebook is named {others[0]}, not {expected}; it was graded anyway."
        return Path(folder) / others[0], [*problems, renamed]
    if others:
        several = (f"No {expected} was submitted, and several other notebooks were ({', '.join(others)}): "
                   "rename the one to grade.")
        return None, [*problems, several]
    return None, problems + [f"No notebook was submitted: {expected} is missing."]


def read_submission(folder: Path | str, assignment: str) -> Submission:
    path, problems = find_notebook(folder, assignment)
    submission = Submission(path, problems=problems)
    if path is None:
        return submission
    try:
        raw = read_file(folder, path.name, MAX_NOTEBOOK_BYTES)
    except ValueError:
        size = os.lstat(path).st_size
        submission.problems.append(f"Your notebook is {size / 2**20:.1f} MiB, over the limit of "
                                   f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MiB (clear large outputs and submit again).")
        return submission
    except OSError as exc:
        submission.problems.append(f"Your notebook {path.name} could not be read ({exc.strerror or exc}).")
        return submission
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        submission.problems.append("Your notebook is not a text file (binary data): it could not be read.")
        return submission
    except json.JSONDecodeError as exc:
        submission.problems.append(f"Your notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                   f"{exc.msg}); was it edited outside Jupyter?")
        return submission
    except RecursionError:
        submission.problems.append("Your notebook is nested too deeply to be a notebook: it could not be read.")
        return submission
    cells = data.get("cells") if isinstance(data, dict) else None
    ids = [c.get("id") for c in cells if isinstance(c, dict) and isinstance(c.get("id"), str)] \
        if isinstance(cells, list) else []
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
    if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) for c in nb["cells"]):
        submission.problems.append("Your notebook has no list of cells.")
        return submission
    if isinstance(data.get("nbformat", 4), int) and data.get("nbformat", 4) < 4:
        submission.problems.append(f"Your notebook is in the old format nbformat {data.get('nbformat')}; "
                                   "it was converted and graded.")
    submission.flags += _sanitized_metadata(nb)
    submission.nb = _normalized(nb)
    return submission


NBGRADER_FIELDS = {"grade_id": str, "checksum": str, "points": (int, float), "solution": bool, "grade": bool, "locked": bool,
                   "task": bool, "schema_version": int, "cell_type": str}


def _valid_nbgrader(meta):
    """True if nbgrader cell metadata `meta` has only fields of the types nbgrader expects."""
    if not isinstance(meta, dict):
        return False
    for key, value in meta.items():
        kind = NBGRADER_FIELDS.get(key)
        if kind is None or not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            return False
    points = meta.get("points", 0)
    return 0 <= points < 1e6 and len(meta.get("grade_id", "")) <= 200


def _sanitized_metadata(nb):
    """Drop cell metadata of the wrong shape (not a dict, malformed nbgrader fields, tags that are not
    strings), so that nothing downstream trips on it; a flag for the instructor per cell repaired."""
    flags = []
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell.get("cell_type"), str) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            cell["cell_type"] = "raw"
            flags.append(f"cell {index}: an unknown cell type, read as a raw cell")
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
            flags.append(f"cell {index}: its metadata was not a dict (dropped)")
        meta = cell["metadata"]
        if "nbgrader" in meta and not _valid_nbgrader(meta["nbgrader"]):
            del meta["nbgrader"]
            flags.append(f"cell {index}: malformed nbgrader metadata (dropped)")
        tags = meta.get("tags", [])
        if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            del meta["tags"]
            flags.append(f"cell {index}: malformed tags (dropped)")
        if not isinstance(cell.get("source", ""), (str, list)) or (
                isinstance(cell.get("source"), list) and not all(isinstance(t, str) for t in cell["source"])):
            cell["source"] = ""
            flags.append(f"cell {index}: its source was not text (dropped)")
    return flags


def _normalized(nb):
    """Outputs dropped, every cell with a fresh unique id if its own was missing or repeated."""
    seen = set()
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell["id"] = uuid.uuid4().hex[:12]
        seen.add(cell["id"])
        if not isinstance(cell.get("source", ""), str):
            cell["source"] = "".join(cell["source"])
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    return nb


def test_cell_flags(submission_nb: nbformat.NotebookNode, release_nb: nbformat.NotebookNode) -> list[str]:
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


def code_flags(cells: Iterable[tuple[int, str]]) -> list[str]:
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
