import pytest
import torch

from helpers import exercises


@pytest.mark.parametrize("key", sorted(exercises.EXERCISES))
def test_checker_accepts_the_solution_and_rejects_typical_wrong_answers(key):
    ex = exercises.EXERCISES[key]
    right, message = exercises.verdict(key, exercises.solution(key))
    assert right, message
    assert ex.wrong, "every checked exercise names at least one typical wrong answer"
    for wrong in ex.wrong:
        right, message = exercises.verdict(key, wrong)
        assert not right
        assert ex.hint in message  # a hint, and never the answer itself
        if ex.kind == "number":
            assert f"{exercises.solution(key):g}" not in message


def test_placeholders_and_wrong_types_get_a_clear_message(capsys):
    assert not exercises.check("00.1", ...)
    assert "No answer yet" in capsys.readouterr().out
    assert exercises.verdict("00.1", "ten")[1].startswith("Expected a number")
    assert exercises.verdict("00.2", 3.0)[1].startswith("Expected a function")
    right, message = exercises.verdict("00.2", lambda a, b: 1 / 0)
    assert not right and "ZeroDivisionError" in message


def test_unknown_key_and_kind_name_the_argument():
    with pytest.raises(ValueError, match="^key"):
        exercises.verdict("99.9", 1)
    with pytest.raises(ValueError, match="^kind"):
        exercises.exercise("99.9", "essay", 1, "")


def test_function_checker_compares_on_every_input():
    exercises.exercise(
        "test.sq",
        "function",
        lambda x: x**2,
        "square it",
        inputs=[(torch.tensor([2.0]),), (torch.tensor([3.0]),)],
    )
    try:
        assert exercises.verdict("test.sq", lambda x: x * x)[0]
        assert not exercises.verdict("test.sq", lambda x: x + 2)[0]  # right at 2, wrong at 3
    finally:
        del exercises.EXERCISES["test.sq"]
