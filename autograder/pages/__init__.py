"""HTML pages that work offline: the MathJax that the jupyter-server-mathjax package installs, and long
diagnoses that wrap, in every page nbconvert or nbgrader writes (feedback, formgrader, solutions_html/).

`nbconvert/templates/base/mathjax.html.j2` here replaces nbconvert's macro of that name (which loads
MathJax from a CDN) for every template built on `base` (lab, classic, nbgrader's formgrade and feedback):
this folder comes first on the Jupyter data path (`use_offline_pages`, or nbgrader_config.py).
A page served by Jupyter loads MathJax from the server (`<base_url>static/jupyter_server_mathjax/`); a page
opened from disk loads it from the installed package (the filter `convbook_mathjax_file`).
"""
import os
from pathlib import Path

import jupyter_server_mathjax

PAGES = Path(__file__).resolve().parent
FILTERS = {"convbook_mathjax_file": "autograder.pages.mathjax_file_url"}


def mathjax_file_url(_=None) -> str:
    """file:// URL of MathJax.js in the installed jupyter-server-mathjax package."""
    return (Path(jupyter_server_mathjax.__file__).parent / "static" / "MathJax.js").as_uri()


def use_offline_pages() -> None:
    """Put this folder first on the Jupyter data path of this process and the ones it starts."""
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if str(PAGES) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in [str(PAGES), *paths] if p)
