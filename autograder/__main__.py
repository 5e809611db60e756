"""Commands: `python -m autograder {release,demo,solutions,grade,report,gradescope,course,formgrader,lab}`."""
import argparse
import sys
from pathlib import Path

from autograder.paths import ASSIGNMENTS


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("release", help="regenerate release/ from source/ with nbgrader generate_assignment")
    demo = sub.add_parser("demo", help="grade the bundled sample class end to end (in demo/)")
    demo.add_argument("--assignment", action="append", choices=ASSIGNMENTS, help="only these assignments")
    demo.add_argument("--root", default=None, help="course directory to build (default: demo/)")
    demo.add_argument("--plain", action="store_true", help="grade with plain nbgrader autograde (kernels) instead")
    solutions = sub.add_parser("solutions", help="execute the source notebooks and write HTML (self-learners)")
    solutions.add_argument("--out", default="solutions_html")
    grade = sub.add_parser("grade", help="grade a class with the isolated engine and record it in nbgrader's gradebook")
    grade.add_argument("assignment", choices=ASSIGNMENTS)
    grade.add_argument("--course", default=None, help="nbgrader course directory (default: demo/)")
    grade.add_argument("--student", action="append", help="only these students (repeat the option)")
    grade.add_argument("--workers", type=int, default=None, help="parallel workers (default: number of cores)")
    grade.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                       help="grade on this running Dask cluster instead of a local pool (README: Grading at scale)")
    report = sub.add_parser("report", help="an HTML page with charts on how the class did (after grade)")
    report.add_argument("assignment", choices=ASSIGNMENTS)
    report.add_argument("--course", default=None, help="nbgrader course directory (default: demo/)")
    gradescope = sub.add_parser("gradescope", help="build a Gradescope autograder zip for one assignment")
    gradescope.add_argument("assignment", choices=ASSIGNMENTS)
    gradescope.add_argument("--out", default="gradescope", help="folder for the zip (default: gradescope/)")
    course_cmd = sub.add_parser("course", help="an nbgrader course directory: init, student setup, release")
    course_sub = course_cmd.add_subparsers(dest="course_command", required=True)
    init = course_sub.add_parser("init", help="create a course directory (config, source/, secret, exchange)")
    init.add_argument("dir")
    init.add_argument("--exchange", default=None, help="a shared exchange directory (default: DIR/exchange)")
    init.add_argument("--course-id", default=None, help="nbgrader course id (default: convbook)")
    student = course_sub.add_parser("student", help="a student's Jupyter config for the course (in HOME/.jupyter)")
    student.add_argument("dir")
    student.add_argument("student")
    student.add_argument("--home", default=None, help="the student's home (default: DIR/homes/STUDENT)")
    release = course_sub.add_parser("release", help="generate_assignment and release_assignment to the exchange")
    release.add_argument("dir")
    release.add_argument("assignment", nargs="*", help=f"default: all ({', '.join(ASSIGNMENTS)})")
    formgrader = sub.add_parser("formgrader", help="JupyterLab on formgrader, for the instructor of a course")
    formgrader.add_argument("--course", default=None, help="course directory (default: demo/)")
    formgrader.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed to jupyter lab")
    lab = sub.add_parser("lab", help="a student's JupyterLab (assignment list, no instructor tools)")
    lab.add_argument("--course", default=None, help="course directory (default: demo/, made if missing)")
    lab.add_argument("--student", default=None, help="student id (default: your user name)")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed to jupyter lab")
    args = parser.parse_args(argv)

    if args.command == "release":
        from autograder.release import generate_release

        generate_release()
        print("release/ regenerated.")
    elif args.command == "demo":
        from autograder.demo import run_demo
        from autograder.paths import DEMO

        run_demo(root=args.root or DEMO, assignments=args.assignment or ASSIGNMENTS, plain=args.plain)
    elif args.command == "solutions":
        from autograder.solution_pages import write_solution_pages

        for path in write_solution_pages(args.out):
            print(path)
    elif args.command == "grade":
        from autograder.engine.cli import grade_command
        from autograder.paths import DEMO

        return grade_command(args.course or DEMO, args.assignment, args.student, args.workers, args.scheduler)
    elif args.command == "report":
        from autograder.engine.report import write_report
        from autograder.paths import DEMO

        page = write_report(args.course or DEMO, args.assignment)
        print(page or f"nothing graded yet: run `python -m autograder grade {args.assignment}` first")
        return 0 if page else 1
    elif args.command == "gradescope":
        from autograder.engine.gradescope import build_zip

        print(build_zip(args.assignment, args.out))
    elif args.command == "course":
        return course_command(args)
    elif args.command == "formgrader":
        from autograder import course
        from autograder.paths import DEMO

        root = Path(args.course or DEMO).resolve()
        if not (root / "nbgrader_config.py").exists():
            print(f"{root} is not a course: make one with `python -m autograder course init {root}`")
            return 1
        return course.jupyter_lab(root, course.instructor_env(root), root, "/formgrader", args.jupyter_args)
    elif args.command == "lab":
        import getpass

        from autograder import course
        from autograder.paths import DEMO

        root = course.ensure_course(args.course or DEMO)
        home = course.setup_student(root, args.student or getpass.getuser())
        return course.jupyter_lab(root, course.student_env(home), home, extra_args=args.jupyter_args)
    return 0


def course_command(args):
    from autograder import course

    if args.course_command == "init":
        root = course.init_course(args.dir, args.exchange, args.course_id or course.DEFAULT_COURSE_ID)
        print(f"course {root}: config {root / 'nbgrader_config.py'}, exchange {course.course_config(root)['exchange']}")
        print(f"  release: python -m autograder course release {root}")
        print(f"  formgrader: python -m autograder formgrader --course {root}")
        print(f"  a student on this machine: python -m autograder lab --course {root} --student NAME")
    elif args.course_command == "student":
        print(course.setup_student(args.dir, args.student, args.home) / ".jupyter")
    elif args.course_command == "release":
        unknown = set(args.assignment) - set(ASSIGNMENTS)
        if unknown:
            print(f"unknown assignments: {', '.join(sorted(unknown))} (known: {', '.join(ASSIGNMENTS)})")
            return 2
        course.release(Path(args.dir).resolve(), args.assignment or ASSIGNMENTS)
        print(f"released: {', '.join(args.assignment or ASSIGNMENTS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
