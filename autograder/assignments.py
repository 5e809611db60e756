"""The course's assignments, in teaching order: each declared once, with every part it is made of.

An assignment `a` is the notebook source/a/a.ipynb (its answer, test and "display" cells are marked in
the notebook's metadata), its hidden checks (a module of `autograder.checks`, with FORBIDDEN: the
libraries each graded function may not use), its catalogue of typical mistakes (a module of
`autograder.mistakes`), the references the checks compare with (modules of `autograder.references`),
and its fast tests, tests/test_a.py. tests/test_assignments.py fails when a source/*/ folder is not
declared here or a declared assignment lacks a part; README "Adding an assignment" lists the steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from autograder.checks import cnn_digits, conv_backward, conv_forward, conv_variants, fast_layers, pooling, spatial_norm
from autograder.mistakes import cnn_digits as cnn_digits_mistakes
from autograder.mistakes import conv_backward as conv_backward_mistakes
from autograder.mistakes import conv_forward as conv_forward_mistakes
from autograder.mistakes import conv_variants as conv_variants_mistakes
from autograder.mistakes import fast_layers as fast_layers_mistakes
from autograder.mistakes import pooling as pooling_mistakes
from autograder.mistakes import spatial_norm as spatial_norm_mistakes
from autograder.references import cnn, conv, fast, worked_example
from autograder.references import conv_variants as conv_variants_references
from autograder.references import pooling as pooling_references
from autograder.references import spatial_norm as spatial_norm_references


@dataclass(frozen=True)
class Assignment:
    id: str                                # nbgrader's assignment id: source/<id>/<id>.ipynb
    checks: ModuleType                     # the hidden checks, with FORBIDDEN
    mistakes: ModuleType                   # MISTAKES, DEMO_MISTAKES, CRASH_CELL
    references: tuple[ModuleType, ...]     # what the checks compare with

    @property
    def forbidden(self) -> dict[str, tuple[tuple[str, ...], str]]:
        """{graded function: (library prefixes it may not use, the reason)}."""
        return getattr(self.checks, "FORBIDDEN", {})


COURSE: tuple[Assignment, ...] = (
    Assignment("conv_forward", conv_forward, conv_forward_mistakes, (conv,)),
    Assignment("conv_backward", conv_backward, conv_backward_mistakes, (conv, worked_example)),
    Assignment("pooling", pooling, pooling_mistakes, (pooling_references,)),
    Assignment("fast_layers", fast_layers, fast_layers_mistakes, (conv, fast, pooling_references)),
    Assignment("cnn_digits", cnn_digits, cnn_digits_mistakes, (cnn,)),
    Assignment("conv_variants", conv_variants, conv_variants_mistakes, (conv, conv_variants_references)),
    Assignment("spatial_norm", spatial_norm, spatial_norm_mistakes, (spatial_norm_references,)),
)


def assignment(assignment_id: str) -> Assignment:
    """The declaration of `assignment_id`; KeyError names the declared ones."""
    for declared in COURSE:
        if declared.id == assignment_id:
            return declared
    raise KeyError(f"{assignment_id!r} is not declared in autograder/assignments.py "
                   f"(declared: {', '.join(a.id for a in COURSE)})")
