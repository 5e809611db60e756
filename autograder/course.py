"""An nbgrader course directory: create it, run the real nbgrader commands in it, read its gradebook.

`init_course` lays out what a course needs on one machine or with a shared exchange:

    COURSE/nbgrader_config.py     loads the project's shared config; root, course id, exchange
    COURSE/source/<assignment>/   the source notebooks, copied from the project
    COURSE/.convbook/secret       the course secret the engine seeds hidden cases with (instructor only)
    COURSE/exchange/              nbgrader's exchange (default; `exchange=` for a shared one)
    COURSE/.jupyter/              the instructor's Jupyter config dir: its nbgrader_config.py loads the
                                  course's, so formgrader finds the course whatever directory it starts in
    <home>/.jupyter/              a student's Jupyter config dir (`setup_student`): the course id and the
                                  exchange, the assignment list on, the instructor's extensions off
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.paths import ASSIGNMENTS, REPO, SOURCE

DEFAULT_COURSE_ID = "convbook"
SECRET = Path(".convbook") / "secret"  # the engine's course secret (autograder.engine.batch.course_secret)

CONFIG = """\
# nbgrader configuration of this course directory: the shared settings, rooted here.
# Made by `python -m autograder course init`. Jupyter finds it from any directory through {jupyter}.
c = get_config()  # noqa: F821
load_subconfig({shared!r})  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
# Students who share one OS account on this machine each name themselves (CourseDirectory.student_id):
# the owner of their files is not theirs, so collect does not compare it.
c.ExchangeCollect.check_owner = {check_owner!r}
"""

INSTRUCTOR_CONFIG = """\
# The instructor's Jupyter config dir: every nbgrader app (formgrader included) loads the course.
c = get_config()  # noqa: F821
load_subconfig({course_config!r})  # noqa: F821
"""

STUDENT_CONFIG = """\
# A student's nbgrader settings: which course, where its exchange is, and who the student is.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
c.Exchange.assignment_dir = {home!r}
c.CourseDirectory.student_id = {student!r}
"""

# What a student's JupyterLab shows of nbgrader: the assignment list and Validate, not the instructor's tools.
INSTRUCTOR_ONLY_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                       "@jupyter/nbgrader:course-list")
INSTRUCTOR_ONLY_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
STUDENT_SERVER = ("nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.validate_assignment")
# No news prompt and no update check in a lab we start.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False}}


def nbgrader_env():
    """The environment for nbgrader: this interpreter's bin first (nbgrader calls `alembic`, kernels)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run_nbgrader(args, cwd, quiet=True, extra_env=None):
    """Run `nbgrader ARGS` in `cwd` (with `extra_env` added to the environment); raise with its log if it fails."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=cwd, env={**nbgrader_env(), **(extra_env or {})}, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed in {cwd}:\n{proc.stdout}\n{proc.stderr}")
    if not quiet:
        print(proc.stdout + proc.stderr)
    return proc


def course_config(root):
    """{"course_id", "exchange"} of the course at `root`, read from its nbgrader_config.py."""
    from traitlets.config.loader import PyFileConfigLoader

    loader = PyFileConfigLoader("nbgrader_config.py", path=str(root))
    config = loader.load_config()
    return {"course_id": config.CourseDirectory.course_id, "exchange": config.Exchange.root}


def init_course(root, exchange=None, course_id=DEFAULT_COURSE_ID, assignments=ASSIGNMENTS, fresh=False):
    """Create the course directory `root` (see the module's docstring) and return its absolute path.

    exchange: a shared exchange directory (made writable by everyone, as nbgrader's docs say), default
    `root/exchange`. fresh: remove `root` first; otherwise `root` must not be a course already.
    """
    root = Path(root).resolve()
    if fresh and root.exists():
        shutil.rmtree(root)
    if (root / "nbgrader_config.py").exists():
        raise FileExistsError(f"{root} is a course already (it has an nbgrader_config.py)")
    root.mkdir(parents=True, exist_ok=True)
    exchange = Path(exchange).resolve() if exchange else root / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)
    config = root / "nbgrader_config.py"
    config.write_text(CONFIG.format(shared=str(REPO / "nbgrader_config.py"), root=str(root), course_id=course_id,
                                    exchange=str(exchange), jupyter=str(root / ".jupyter"),
                                    check_owner=exchange != root / "exchange"))
    instructor = root / ".jupyter"
    instructor.mkdir(exist_ok=True)
    (instructor / "nbgrader_config.py").write_text(INSTRUCTOR_CONFIG.format(course_config=str(config)))
    _write_lab_settings(instructor)
    for assignment in assignments:
        shutil.copytree(SOURCE / assignment, root / "source" / assignment)
    from autograder.engine.batch import (
        course_secret,  # the engine's own way to make it (0600)
    )

    course_secret(root)
    return root


def create_course(root, assignments):
    """A fresh course directory at `root` with its config and a copy of the source notebooks."""
    return init_course(root, assignments=assignments, fresh=True)


def _write_lab_settings(config_dir, disabled=()):
    """JupyterLab settings in a Jupyter config dir of ours: no news prompt; `disabled` lab plugins off."""
    for name, settings in LAB_SETTINGS.items():
        path = Path(config_dir, "lab", "user-settings", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=1))
    if disabled:
        page_config = Path(config_dir, "labconfig", "page_config.json")
        page_config.parent.mkdir(parents=True, exist_ok=True)
        page_config.write_text(json.dumps({"disabledExtensions": {name: True for name in disabled}}, indent=1))


def student_home(root, student):
    """Where a student of the course lives on this machine (the demo's and `make lab`'s students)."""
    return Path(root).resolve() / "homes" / student


def setup_student(root, student, home=None):
    """A student's Jupyter config dir in `home` (default `student_home`): nbgrader finds the course's
    exchange, JupyterLab shows the assignment list and not the instructor's tools. Returns the home."""
    home = Path(home or student_home(root, student)).resolve()
    config_dir = home / ".jupyter"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text(
        STUDENT_CONFIG.format(home=str(home), student=student, **course_config(root)))
    extensions = {name: False for name in INSTRUCTOR_ONLY_SERVER} | {name: True for name in STUDENT_SERVER}
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": extensions}}, indent=1))
    _write_lab_settings(config_dir, disabled=INSTRUCTOR_ONLY_LAB)
    return home


def jupyter_env(config_dir, home=None):
    """nbgrader's environment with Jupyter's config, data and runtime dirs of one person (not the user's)."""
    env = nbgrader_env()
    data = Path(home or config_dir.parent) / ".local" / "share" / "jupyter"
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_DATA_DIR=str(data),
               JUPYTER_RUNTIME_DIR=str(data / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(data / "workspaces"))
    if home:
        env.update(HOME=str(home), IPYTHONDIR=str(Path(home) / ".ipython"))
    return env


def instructor_env(root):
    return jupyter_env(Path(root).resolve() / ".jupyter")


def student_env(home):
    return jupyter_env(Path(home) / ".jupyter", home=home)


EXCHANGE_STEPS = ("release_assignment", "collect", "release_feedback", "fetch_assignment", "submit", "fetch_feedback")


def exchange(*groups):
    """Run nbgrader's exchange for people in turn: each group is a list of (steps, cwd, env), one person
    each, run at the same time. steps: [(step, assignment)], a step of EXCHANGE_STEPS or "answer" (a sample
    student types its answers); env: `instructor_env` or `student_env`. Returns the log; raises if one fails.

    One process imports nbgrader (seconds) and forks a process per person, which takes that person's
    environment and working directory and runs nbgrader's exchange classes, as its commands do.
    """
    plan = [[{"steps": steps, "cwd": str(cwd), "env": env} for steps, cwd, env in group] for group in groups]
    code = "from autograder.course import exchange_main; exchange_main()"
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(plan), env=nbgrader_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader exchange failed:\n{proc.stdout}")
    return proc.stdout


def exchange_main():
    """The process behind `exchange`: the plan as JSON on stdin."""
    plan = json.load(sys.stdin)
    import nbgrader.exchange  # noqa: F401 (once, before forking)

    if any(step == "answer" for group in plan for person in group for step, _ in person["steps"]):
        import autograder.sample_class  # noqa: F401
    for group in plan:
        children = []
        for person in group:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    os.chdir(person["cwd"])
                    os.environ.clear()
                    os.environ.update(person["env"])
                    run_steps(person["steps"])
                    status = 0
                except Exception as exc:  # noqa: BLE001 (any failure: report it; the parent fails the run)
                    print(f"{person['cwd']}: {type(exc).__name__}: {exc}", flush=True)
                finally:
                    sys.stdout.flush()
                    os._exit(status)
            children.append(pid)
        failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
        if failed:
            sys.exit(f"{len(failed)} of {len(children)} exchange processes failed")


def run_steps(steps):
    """Load nbgrader's config as its apps do (the Jupyter config path and the working directory) and run
    each (step, assignment) with nbgrader's exchange classes."""
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory

    app = NbGrader()
    app.load_config_file()
    config = app.config
    config.ExchangeReleaseAssignment.force = True  # a release again replaces the previous one
    factory = ExchangeFactory(config=config)
    make = {"release_assignment": factory.ReleaseAssignment, "collect": factory.Collect,
            "release_feedback": factory.ReleaseFeedback, "fetch_assignment": factory.FetchAssignment,
            "submit": factory.Submit, "fetch_feedback": factory.FetchFeedback}
    for step, assignment in steps:
        if step == "answer":
            from autograder import sample_class

            sample_class.type_answers(config.Exchange.assignment_dir, assignment, config.CourseDirectory.student_id)
            continue
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = assignment
        make[step](coursedir=coursedir, authenticator=Authenticator(config=config), config=config).start()
        print(f"{step} {assignment}: done", flush=True)


def release(root, assignments):
    """The instructor: generate the student versions of every assignment in the course's source/ and put
    `assignments` in the exchange (release_assignment)."""
    run_nbgrader(["generate_assignment", "*", "--force"], cwd=root)
    exchange([([("release_assignment", a) for a in assignments], root, instructor_env(root))])


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


def jupyter_lab(root, env, cwd, default_url=None, extra_args=()):
    """Start JupyterLab (blocks until it is stopped) with `env`'s Jupyter dirs, serving `cwd`."""
    cmd = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={cwd}", *extra_args]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # a container or CI machine
    if default_url:
        cmd.append(f"--ServerApp.default_url={default_url}")
    return subprocess.run(cmd, cwd=cwd, env=env, check=False).returncode


def ensure_course(root):
    """The course at `root`, or a new one there with every assignment released (for `make lab`)."""
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").exists():
        init_course(root)
        release(root, ASSIGNMENTS)
        print(f"new course {root}: every assignment released to {root / 'exchange'}")
    return root
