"""Helpers for the migrate unit tests: the output's comments read as running text."""

import re


def unwrapped(text: str) -> str:
    """The output with its comment lines joined: a sentence wrapped over lines reads whole."""
    return re.sub(r"\s*\n#\s*", " ", text)
