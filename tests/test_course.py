"""A course run the way a real class runs it: `course init`, nbgrader's exchange between the instructor and
students who each have their own home, grading, feedback fetched by the students, and LMS zips.

Run with -p no:xdist (one course, built once, shared by the tests of the loop).
"""
import html
import json
import stat
import subprocess
import sys
import zipfile

import nbformat
import pytest

from autograder import course, mistakes, notebook_cells, sample_class
from autograder.engine.sandbox import isolation
from autograder.paths import REPO, release_notebook

A = "conv_forward"
WRITTEN = "proof_commutative"
STUDENTS = ("correct", "mistakes")
pytestmark = pytest.mark.xdist_group("course")

LOAD_CONFIG = """
import json
from nbgrader.apps.baseapp import NbGrader
app = NbGrader()
app.load_config_file()
c = app.config
print(json.dumps({"root": c.CourseDirectory.get("root"), "course_id": c.CourseDirectory.get("course_id"),
                  "exchange": c.Exchange.get("root"), "student_id": c.CourseDirectory.get("student_id")}))
"""


def config_seen_by_nbgrader(env, cwd):
    """What nbgrader's apps (formgrader, assignment list) load with `env` when Jupyter starts in `cwd`."""
    out = subprocess.run([sys.executable, "-c", LOAD_CONFIG], env=env, cwd=cwd, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_course_init_makes_a_course_that_nbgrader_finds_from_any_directory(tmp_path):
    shared = tmp_path / "shared-exchange"
    root = tmp_path / "ml101"
    cmd = [sys.executable, "-m", "autograder", "course", "init", str(root), "--exchange", str(shared),
           "--course-id", "ml101"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp_path, env=course.nbgrader_env())
    assert (root / "source" / A / f"{A}.ipynb").read_bytes() == (REPO / "source" / A / f"{A}.ipynb").read_bytes()
    secret = root / ".convbook" / "secret"
    assert len(secret.read_text().strip()) == 32 and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o777, "every student must be able to submit"
    expected = {"root": str(root), "course_id": "ml101", "exchange": str(shared)}
    for cwd in (tmp_path, REPO, root / "source"):  # the repository's own nbgrader_config.py must not win
        seen = config_seen_by_nbgrader(course.instructor_env(root), cwd)
        assert {k: seen[k] for k in expected} == expected, cwd
    with pytest.raises(FileExistsError):
        course.init_course(root)
    default = course.init_course(tmp_path / "solo", assignments=[A])
    assert course.course_config(default) == {"course_id": "convbook", "exchange": str(default / "exchange")}


def test_a_student_sees_the_assignment_list_and_not_the_instructors_tools(tmp_path):
    root = course.init_course(tmp_path / "course", assignments=[A])
    home = course.setup_student(root, "ada")
    seen = config_seen_by_nbgrader(course.student_env(home), home)
    assert seen["course_id"] == "convbook" and seen["exchange"] == str(root / "exchange")
    assert seen["student_id"] == "ada"
    server = json.loads((home / ".jupyter" / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert extensions["nbgrader.server_extensions.assignment_list"] is True
    page = json.loads((home / ".jupyter" / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                                               "@jupyter/nbgrader:course-list"}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """The whole loop for two students through the exchange, graded with the engine's command."""
    root = course.init_course(tmp_path_factory.mktemp("loop") / "course", assignments=[A])
    homes = {s: course.setup_student(root, s) for s in STUDENTS}
    course.run_nbgrader(["generate_assignment", A, "--force"], cwd=root)
    instructor = course.instructor_env(root)
    course.exchange([([("release_assignment", A)], root, instructor)],
                    [([("fetch_assignment", A), ("answer", A), ("submit", A)], home, course.student_env(home))
                     for home in homes.values()],
                    [([("collect", A)], root, instructor)])
    graded = None
    if isolation() == "namespaces":
        graded = subprocess.run([sys.executable, "-m", "autograder", "grade", A, "--course", str(root)],
                                capture_output=True, text=True, env=course.nbgrader_env(), check=False)
    else:
        course.run_nbgrader(["autograde", A, "--force"], cwd=root)
    course.set_manual_score(root, A, "correct", WRITTEN, 2, "Clear.")
    course.run_nbgrader(["generate_feedback", A, "--force"], cwd=root)
    course.exchange([([("release_feedback", A)], root, instructor)],
                    [([("fetch_feedback", A)], home, course.student_env(home)) for home in homes.values()])
    return root, homes, graded


def test_students_fetch_from_the_exchange_into_their_own_homes(loop):
    _, homes, _ = loop
    for student, home in homes.items():
        fetched = nbformat.read(str(home / A / f"{A}.ipynb"), as_version=4)
        release = nbformat.read(str(release_notebook(A)), as_version=4)
        assert len(fetched.cells) == len(release.cells)
        typed = notebook_cells.answers(fetched)
        assert typed == {k: v for k, v in notebook_cells.answers(sample_class.submission(
            A, sample_class.student_answers(A, student))).items()}, student
        assert list((home / ".local" / "share" / "jupyter" / "nbgrader_cache" / "convbook").glob(f"{student}+{A}+*"))


def test_collect_puts_each_submission_in_submitted_with_its_timestamp(loop):
    root, homes, _ = loop
    for student, home in homes.items():
        folder = root / "submitted" / student / A
        assert (folder / "timestamp.txt").read_text().strip()
        assert (folder / f"{A}.ipynb").read_bytes() == (home / A / f"{A}.ipynb").read_bytes()


def test_the_class_is_graded_and_recorded(loop):
    root, _, graded = loop
    if graded is not None:
        assert graded.returncode == 0, graded.stdout + graded.stderr
    scores = course.cell_scores(root, A)
    assert set(scores) == set(STUDENTS)
    assert all(score == max_score for score, max_score in scores["correct"].values())
    expected = set().union(*(mistakes.by_name(A, n).fails for n in mistakes.catalogue(A).DEMO_MISTAKES))
    failing = {c for c, (score, max_score) in scores["mistakes"].items() if score is not None and score < max_score}
    assert failing == expected


def test_students_fetch_their_feedback_with_the_diagnosis_and_without_hidden_tests(loop):
    _, homes, _ = loop
    pages = {s: list(home.glob(f"{A}/feedback/*/{A}.html")) for s, home in homes.items()}
    assert all(len(p) == 1 for p in pages.values()), pages
    page = html.unescape(pages["mistakes"][0].read_text())
    for name in mistakes.catalogue(A).DEMO_MISTAKES:
        if mistakes.by_name(A, name).diagnosis:
            assert mistakes.by_name(A, name).diagnosis in page
    assert "HIDDEN TESTS" not in page and "autograder" not in page
    assert "Clear." in html.unescape(pages["correct"][0].read_text()), "the instructor's comment"
    # Offline pages: MathJax from the installed package (never a CDN), long diagnoses wrap.
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in page
    assert "static/jupyter_server_mathjax/MathJax.js" in page and "pre-wrap" in page


def make_zip(path, files):
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("lms_name, files, expected", [
    ("CanvasCollector",
     {"ada_12345_67890_conv_forward.ipynb": "correct", "grace_LATE_23456_78901_conv_forward-1.ipynb": "mistakes",
      "alan_34567_89012_notes.txt": None},
     {"ada": "correct", "grace": "mistakes"}),
    ("MoodleCollector",
     {"Ada Lovelace_12345_assignsubmission_file_conv_forward.ipynb": "correct",
      "Grace Hopper_23456_assignsubmission_file_/conv_forward.ipynb": "mistakes"},
     {"ada_lovelace": "correct", "grace_hopper": "mistakes"}),
])
def test_zip_collect_takes_an_lms_zip(lms_name, files, expected, tmp_path):
    root = course.init_course(tmp_path / "course", assignments=[A])
    course.run_nbgrader(["generate_assignment", A, "--force"], cwd=root)
    notebooks = {s: nbformat.writes(sample_class.submission(A, sample_class.student_answers(A, s)))
                 for s in set(files.values()) - {None}}
    contents = {name: notebooks[who] if who else "just notes" for name, who in files.items()}
    make_zip(root / "downloaded" / A / "archive" / "submissions.zip", contents)
    course.run_nbgrader(["zip_collect", A, f"--collector=autograder.lms.{lms_name}"], cwd=root)
    collected = {p.parts[-3] for p in (root / "submitted").glob(f"*/{A}/{A}.ipynb")}
    assert collected == set(expected)
    for student, who in expected.items():
        assert (root / "submitted" / student / A / f"{A}.ipynb").read_text() == notebooks[who]
