"""`make solutions`: run every source notebook top to bottom and save it as HTML, for self-learners."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from autograder.kernels import with_kernel_restarts
from autograder.pages import FILTERS, use_offline_pages
from autograder.paths import ASSIGNMENTS, REPO, source_notebook


def execute_notebook(path, timeout=600, allow_errors=False):
    """The notebook at `path`, executed in a fresh kernel from its own folder (again if the kernel never
    started: autograder.kernels)."""
    def run():
        nb = nbformat.read(str(path), as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
        return nb

    return with_kernel_restarts(run)


def write_solution_pages(out_dir, assignments=ASSIGNMENTS):
    out_dir = REPO / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    use_offline_pages()  # MathJax from the installed package, not a CDN
    for assignment in assignments:
        html, _ = HTMLExporter(filters=FILTERS).from_notebook_node(execute_notebook(source_notebook(assignment)))
        target = out_dir / f"{assignment}.html"
        target.write_text(html)
        written.append(target)
    return written
