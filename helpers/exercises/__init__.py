"""Checked exercises: `check("01.2", answer)` says right, or what is wrong and a hint, never the answer.

The exercises of lesson NN are registered in `helpers/exercises/nbNN.py` with `exercise(...)`.
"""

import math
from dataclasses import dataclass

import torch


@dataclass
class Exercise:
    """One checked exercise."""

    kind: str  # 'number', 'choice' or 'function'
    expected: object  # a value, or a zero-argument callable computing it (run at check time)
    hint: str  # said when the answer is wrong
    wrong: tuple = ()  # typical wrong answers; the tests prove each is rejected
    rel_tol: float = 0.05  # numbers: accepted relative error
    inputs: object = ()  # functions: argument tuples tried, or a zero-argument callable making them


EXERCISES = {}


def exercise(key, kind, expected, hint, **kwargs):
    """Register an exercise under a key like '01.2' (notebook, number)."""
    if not isinstance(key, str):
        raise TypeError(f"key: expected a string like '01.2', got {key!r}")
    if kind not in ("number", "choice", "function"):
        raise ValueError(f"kind: expected 'number', 'choice' or 'function', got {kind!r}")
    EXERCISES[key] = Exercise(kind, expected, hint, **kwargs)


def check_key(key):
    """Raise naming `key` unless it names a registered exercise."""
    if not isinstance(key, str):
        raise TypeError(f"key: expected a string like '01.2' (lesson, number), got {key!r}")
    if key not in EXERCISES:
        raise ValueError(f"key: expected one of {sorted(EXERCISES)}, got {key!r}")


def solution(key):
    """The accepted answer (for the tests and the solution notebooks)."""
    check_key(key)
    ex = EXERCISES[key]
    return ex.expected() if callable(ex.expected) and ex.kind != "function" else ex.expected


def verdict(key, answer):
    """(right, message) for an answer to exercise `key`."""
    check_key(key)
    ex = EXERCISES[key]
    expected = solution(key)
    if answer is None or answer is ...:
        return False, "No answer yet: replace the placeholder with your answer."
    if ex.kind == "number":
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return False, f"Expected a number, got {answer!r}."
        if math.isclose(value, expected, rel_tol=ex.rel_tol, abs_tol=1e-12):
            return True, "Right."
        return False, f"Not yet: {value:g} is too {'large' if value > expected else 'small'}. Hint: {ex.hint}"
    if ex.kind == "choice":
        if str(answer).strip().lower() == str(expected).lower():
            return True, "Right."
        return False, f"Not {answer!r}. Hint: {ex.hint}"
    if not callable(answer):
        return False, f"Expected a function, got {type(answer).__name__}."
    for args in ex.inputs() if callable(ex.inputs) else ex.inputs:
        try:
            got = answer(*args)
            if got is None:
                return False, "Your function returned None: it needs a `return` statement."
            got = torch.as_tensor(got, dtype=torch.float64)
        except Exception as e:  # the student's code: report, don't crash the notebook
            return False, f"Your function raised {type(e).__name__}: {e}. Hint: {ex.hint}"
        want = torch.as_tensor(expected(*args), dtype=torch.float64)
        if got.shape != want.shape or not torch.allclose(got, want, rtol=ex.rel_tol, atol=1e-8):
            return (
                False,
                f"Your function gives a wrong result for the input ({_shapes(args)}). Hint: {ex.hint}",
            )
    return True, "Right."


def _shapes(args):
    def describe(a):
        if hasattr(a, "shape"):
            return f"shape {tuple(a.shape)}"
        return f"{type(a).__name__} of {len(a)}" if isinstance(a, list | tuple) else type(a).__name__

    return ", ".join(describe(a) for a in args)


class Verdict:
    """True or False for `assert`, and shown as nothing in a notebook: the printed line says it all."""

    def __init__(self, right):
        self.right = right

    def __bool__(self):
        return self.right

    def _ipython_display_(self):
        pass


def check(key, answer):
    """Print whether `answer` to exercise `key` is right; the result is truthy when it is."""
    right, message = verdict(key, answer)
    print(("✓ " if right else "✗ ") + message)
    return Verdict(right)


def as_number(value, name):
    """value (a number, or a one-element tensor or array) as a float; raises naming `name` otherwise."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)  # a string such as "0.5" passes, as it always did
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None


def reveal(guess, measured, what="value"):
    """Print a reader's prediction beside the measurement (for "predict, then run" prompts)."""
    measured = as_number(measured, "measured")
    if guess is not None and guess is not ...:
        guess = as_number(guess, "guess")
    if not isinstance(what, str):
        raise TypeError(f"what: expected a string naming the quantity, got {what!r}")
    if guess is None or guess is ...:
        print(f"Measured {what}: {measured:.3g}. (No guess made: next time, commit to one first.)")
    else:
        print(f"Your guess: {guess:.3g}. Measured {what}: {measured:.3g}.")


# Each lesson's exercises live in their own module and register themselves on import.
from helpers.exercises import nb00  # noqa: E402, F401
from helpers.exercises import nb03  # noqa: E402, F401
from helpers.exercises import nb02  # noqa: E402, F401
from helpers.exercises import nb04  # noqa: E402, F401
from helpers.exercises import nb07  # noqa: E402, F401
from helpers.exercises import nb01  # noqa: E402, F401
from helpers.exercises import nb05  # noqa: E402, F401
from helpers.exercises import nb06  # noqa: E402, F401
from helpers.exercises import nb08  # noqa: E402, F401
