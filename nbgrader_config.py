"""nbgrader configuration shared by the repository (release) and every course directory (demo, classes).

A course directory's own nbgrader_config.py (`python -m autograder course init`) loads this file and sets
its root, course id and exchange; nothing here names a course, so loading this file from the working
directory (Jupyter started in the repository) changes no course's settings.
"""
import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding: restore deleted test cells, bound the time of each cell and the size of outputs.
c.OverwriteCells.add_missing_cells = True
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60
c.Autograde.autograde_preprocessors = [
    "autograder.nbgrader_plugins.Execute",
    "autograder.nbgrader_plugins.StderrToStdout",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# `python -m autograder grade`: the grading engine has decided every test cell already (in its sandbox
# and grader processes); nbgrader records its verdicts from the staged notebooks, and runs no kernel.
if os.environ.get("CONVBOOK_ENGINE_RESULTS"):
    c.CourseDirectory.submitted_directory = os.environ["CONVBOOK_ENGINE_STAGED"]
    c.Autograde.autograde_preprocessors = [
        "autograder.engine.nbgrader_bridge.ApplyEngineResults",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]

# Feedback: never show hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_plugins.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Every HTML page nbgrader and nbconvert write (feedback, formgrader, solutions): MathJax from the
# jupyter-server-mathjax package instead of a CDN, and long diagnoses wrap (autograder/pages.py).
_pages = os.path.join(os.path.dirname(os.path.abspath(__file__)), "autograder", "pages")
if _pages not in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in [_pages, os.environ.get("JUPYTER_PATH")] if p)
c.TemplateExporter.filters = {"convbook_mathjax_file": "autograder.pages.mathjax_file_url"}
