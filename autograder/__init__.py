"""Instructor-only side of convbook: hidden checks, references, solutions and grading commands.

Never shipped to students: nothing in release/ imports it.
"""
