"""Gradescope: an autograder zip that grades one submitted notebook with the same engine and checks.

Build: `python -m autograder gradescope ASSIGNMENT [--out DIR]` writes <DIR>/<ASSIGNMENT>_gradescope.zip with
`setup.sh` (installs the pinned requirements and this project) and `run_autograder`, per Gradescope's
autograder specification; upload it as the assignment's autograder ("Ubuntu" base image).

Run (inside Gradescope, called by run_autograder): `python3 -m autograder.engine.gradescope ASSIGNMENT`
grades /autograder/submission/ and writes /autograder/results/results.json with one test per test cell
(name, score, max_score, output, visibility). $AUTOGRADER_ROOT replaces /autograder (for tests).
"""
import json
import os
import secrets
import sys
import zipfile
from pathlib import Path

from autograder.engine.grade import SubmissionResult, grade_submission
from autograder.paths import REPO, release_notebook, source_notebook

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope build step: Python, the pinned requirements, and this project (convbook + autograder).
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv util-linux
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet -r /autograder/source/requirements.txt
/autograder/venv/bin/pip install --quiet --no-deps -e /autograder/source
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope run step: grade /autograder/submission with the convbook engine.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{CONVBOOK_PYTHON:-$ROOT/venv/bin/python}}"
# the student's code runs under another uid: it must not read the hidden tests, solutions or secret
chmod -R go-rwx "$ROOT/source/source" "$ROOT/source/autograder" "$ROOT/source/gradescope_secret" 2>/dev/null || true
mkdir -p "$ROOT/results"
cd "$ROOT/source"
exec "$PYTHON" -m autograder.engine.gradescope {assignment}
"""

# What the zip carries from the repository (the assignment's notebooks are added separately).
PACKAGED = ("autograder", "convbook", "pyproject.toml", "requirements.txt", "nbgrader_config.py")


def build_zip(assignment: str, out_dir: str | Path) -> Path:
    """The Gradescope autograder zip of `assignment`; returns its path."""
    out = Path(out_dir) / f"{assignment}_gradescope.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER.format(assignment=assignment))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text)
        for name in PACKAGED:
            path = REPO / name
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                         and "__pycache__" not in p.parts)
            for file in files:
                zf.write(file, str(file.relative_to(REPO)))
        for notebook in (source_notebook(assignment), release_notebook(assignment)):
            zf.write(notebook, str(notebook.relative_to(REPO)))
        zf.writestr("gradescope_secret", secrets.token_hex(16))
    return out


def student_id(root: Path) -> str:
    """The submitter's Gradescope user id (seeds their hidden cases), or "student" if unknown."""
    try:
        metadata = json.loads((root / "submission_metadata.json").read_text())
        return str(metadata["users"][0]["id"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return "student"


def results_json(result: SubmissionResult) -> dict:
    """Gradescope's results.json for one SubmissionResult."""
    tests = []
    for cell in result.cells:
        output = cell.output if cell.passed else "\n".join(filter(None, [cell.output, cell.error]))
        tests.append({"name": cell.grade_id, "score": cell.score, "max_score": cell.points,
                      "output": output.strip() or ("Passed." if cell.passed else "Failed."),
                      "visibility": "visible"})
    notes = " ".join(result.problems)
    return {"score": result.score, "tests": tests, "visibility": "visible", "stdout_visibility": "hidden",
            "output": notes or "Graded by the convbook engine; written answers are graded by hand."}


def run(assignment: str, root: str | Path) -> SubmissionResult:
    root = Path(root)
    secret = (REPO / "gradescope_secret").read_text().strip()
    result = grade_submission(assignment, root / "submission", student_id(root), secret, course_root=root / "results")
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results_json(result), indent=1))
    return result


if __name__ == "__main__":
    run(sys.argv[1], os.environ.get("AUTOGRADER_ROOT", "/autograder"))
