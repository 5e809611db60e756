"""convbook: the student-side helpers of the convolution workbook.

Everything here is allowed (and meant) to be used inside the exercises:
gradient checking, relative errors with a verdict, the loop rule of Assignment 4
(check_no_position_loops), sample data, plotting and timing.
"""
from convbook.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from convbook.testing import check_close, check_output_shape, describe_difference
from convbook.tracing import check_no_position_loops

__all__ = [
    "check_close",
    "check_no_position_loops",
    "check_output_shape",
    "describe_difference",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "rel_error",
]
