"""An nbgrader course directory: create it, run the real nbgrader commands in it, read its gradebook."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.paths import REPO, SOURCE

CONFIG = """\
# nbgrader configuration of this course directory: the shared settings, rooted here.
c = get_config()  # noqa: F821
load_subconfig({shared!r})  # noqa: F821
c.CourseDirectory.root = {root!r}
"""


def nbgrader_env():
    """The environment for nbgrader: this interpreter's bin first (nbgrader calls `alembic`, kernels)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_nbgrader(args, cwd, quiet=True, extra_env=None):
    """Run `nbgrader ARGS` in `cwd` (with `extra_env` added to the environment); raise with its log if it fails."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=cwd, env={**nbgrader_env(), **(extra_env or {})}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    if not quiet:
        print(proc.stdout + proc.stderr)
    return proc


def create_course(root, assignments):
    """A fresh course directory at `root` with its config and a copy of the source notebooks."""
    root = Path(root).resolve()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG.format(shared=str(REPO / "nbgrader_config.py"), root=str(root)))
    for assignment in assignments:
        shutil.copytree(SOURCE / assignment, root / "source" / assignment)
    return root


def gradebook_url(root):
    return f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


def cell_scores(root, assignment):
    """{student: {grade_cell: (score or None if awaiting manual grading, max_score)}} from the gradebook."""
    scores = {}
    with Gradebook(gradebook_url(root)) as gb:
        for submission in gb.assignment_submissions(assignment):
            row = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    pending = grade.needs_manual_grade and grade.manual_score is None
                    row[grade.name] = (None if pending else grade.score, grade.max_score)
            scores[submission.student.id] = row
    return scores


def set_manual_score(root, assignment, student, cell, score, comment=""):
    """What an instructor does in formgrader: give points to a manually graded cell."""
    with Gradebook(gradebook_url(root)) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name == cell:
                    grade.manual_score = score
                    grade.needs_manual_grade = False
            for c in notebook.comments:
                if c.name == cell and comment:
                    c.manual_comment = comment
        gb.db.commit()
