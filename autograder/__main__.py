"""Instructor commands: `python -m autograder {release,demo,solutions,grade,report,gradescope}`."""
import argparse
import sys

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
