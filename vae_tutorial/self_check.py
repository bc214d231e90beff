""" "Predict, then check" exercises: the student writes a number or a function, a checker answers.

Each exercise names the right value (or a reference function) and the common wrong answers with a
hint for each, so a wrong answer gets a diagnosis ("is this sigma or log sigma?") rather than a bare
"no". Nothing is graded; an unanswered exercise (the placeholder ``...`` left in place) only prints
what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

PLACEHOLDER_HINT = "Replace ... with your answer, then run this cell again."


def _as_array(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=float)


def _close(a, b, rtol: float, atol: float) -> bool:
    try:
        a, b = _as_array(a), _as_array(b)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def check_answer(
    answer,
    expected,
    mistakes: Iterable[tuple[object, str]] = (),
    rtol: float = 0.02,
    atol: float = 1e-6,
    explain: str = "",
) -> bool:
    """Compare a predicted number (or array) with the right one; print a verdict and a hint.

    answer: what the student wrote (``...`` while unanswered). expected: the right value.
    mistakes: ``(wrong_value, hint)`` pairs for the usual slips; an answer close to a wrong value
    gets that hint. rtol, atol: how close counts as right (as in ``numpy.allclose``).
    explain: a sentence printed after a right answer (why it is right).
    Returns True when the answer is right.
    """
    if answer is ... or answer is None:
        print(PLACEHOLDER_HINT)
        return False
    if _close(answer, expected, rtol, atol):
        print("Right." + (f" {explain}" if explain else ""))
        return True
    for wrong, hint in mistakes:
        if _close(answer, wrong, rtol, atol):
            print(f"Not quite: {hint}")
            return False
    print(f"Not quite: {_describe(answer)} is not it. Try again, or open the answer.")
    return False


def check_function(
    function: Callable,
    cases: Sequence[tuple],
    reference: Callable,
    mistakes: Iterable[tuple[Callable, str]] = (),
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> bool:
    """Run a student's ``function`` on each argument tuple in ``cases`` and compare with
    ``reference``; a result that matches one of the ``(wrong_function, hint)`` mistakes instead
    gets that hint. An unanswered function (one that raises NotImplementedError) prints what to do.
    Returns True when every case agrees with the reference.
    """
    for args in cases:
        try:
            got = function(*args)
        except NotImplementedError:
            print("Write the body of the function (in place of `raise NotImplementedError`).")
            return False
        except Exception as err:  # a student's bug: say what happened, do not crash the lesson
            print(f"Your function raised {type(err).__name__}: {err}")
            return False
        want = reference(*args)
        if _close(got, want, rtol, atol):
            continue
        for wrong, hint in mistakes:
            if _close(got, wrong(*args), rtol, atol):
                print(f"Not quite: {hint}")
                return False
        shape = getattr(got, "shape", None)
        wanted = getattr(want, "shape", None)
        if shape is not None and wanted is not None and tuple(shape) != tuple(wanted):
            print(f"Not quite: the result has shape {tuple(shape)}, expected {tuple(wanted)}.")
        else:
            print(f"Not quite: on inputs {_describe_args(args)} the result is not the answer.")
        return False
    print(f"Right on all {len(cases)} test inputs.")
    return True


def _describe(value) -> str:
    try:
        array = _as_array(value)
    except (TypeError, ValueError):
        array = None
    if array is not None and array.size == 1:
        return f"{array.item():.6g}"
    if array is not None:
        return f"an array of shape {array.shape}"
    return repr(value)


def _describe_args(args) -> str:
    return ", ".join(f"shape {tuple(a.shape)}" if hasattr(a, "shape") else repr(a) for a in args)
