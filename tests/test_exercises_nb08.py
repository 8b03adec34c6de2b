"""08's checkers: any spelling of the right name passes, every other name fails, no hint gives it away."""

import pytest

from helpers import exercises
from helpers.exercises import nb08

RIGHT = {  # the verdict's name as a student may write it
    "08.1": [
        "exploding gradients",
        "Exploding gradients",
        "exploding",
        "exploding-gradient",
        "gradient explosion",
        "Exploding Gradiants",
    ],
    "08.2": [
        "vanishing gradients",
        "Vanishing Gradients",
        "vanishing",
        "vanishing_gradient",
        "vanishing gradeints",
    ],
    "08.3": ["dead units", "Dead ReLUs", "dying ReLU", "dead neurones", "dead", "dead unit", "ded units"],
    "08.4": [
        "learning rate too high",
        "LR too high",
        "lr too high",
        "too high learning rate",
        "learning-rate too large",
        "learning rate is too high",
        "learnig rate too high",
    ],
    "08.5": [
        "one badly initialised layer",
        "One badly-initialized layer.",
        "a badly initialised layer",
        "bad layer",
        "one bad layer",
    ],
    "08.6": ["saturation", "Saturation ", "saturated", "saturaton", "saturated units"],
}
NEAR_MISSES = [
    "learning rate",
    "gradients",
    "too high",
    "bad",
    "relu",
    "nan",
    "",
    "42",
    "vanishing exploding",
]


@pytest.mark.parametrize("key", sorted(RIGHT))
def test_checker_accepts_every_spelling_of_the_right_name(key):
    for answer in RIGHT[key]:
        assert exercises.verdict(key, answer) == (True, "Right."), answer


@pytest.mark.parametrize("key", sorted(RIGHT))
def test_checker_rejects_every_other_name_and_points_to_evidence(key):
    expected = nb08.meant(exercises.solution(key))
    others = [n for n in nb08.SYNONYMS if n != expected]
    for answer in others + NEAR_MISSES + list(exercises.EXERCISES[key].wrong):
        right, message = exercises.verdict(key, answer)
        assert not right, answer
        assert exercises.EXERCISES[key].hint in message
    hint = exercises.EXERCISES[key].hint.lower()
    for form in (expected, *nb08.SYNONYMS[expected]):
        assert form not in hint.split(" ") and f" {form} " not in f" {hint} ", (key, form)


def test_the_two_learning_rate_names_are_never_confused():
    assert nb08.meant("learning rate too hgh") == "learning rate too high"
    assert nb08.meant("learning rate too lwo") == "learning rate too low"
    assert nb08.meant("learning rate too") is None  # as near to both: neither


def test_placeholder_and_non_strings_get_a_clear_message():
    assert exercises.verdict("08.1", ...) == (
        False,
        "No answer yet: replace the placeholder with your answer.",
    )
    assert not exercises.verdict("08.1", 3.5)[0]


def test_each_mystery_is_named_as_its_exercise_expects():
    for number, key in zip(range(1, 6), ("08.1", "08.2", "08.3", "08.4", "08.5")):
        rec = nb08.mystery(number, every=1 if number in (1, 5) else 6)
        assert exercises.verdict(key, rec.verdict().name)[0], (number, rec.verdict())
    with pytest.raises(ValueError, match="^number"):
        nb08.mystery(6)


def test_mystery_model_is_the_net_each_mystery_trains():
    from helpers.diagnose import planted_model

    for number in range(1, 6):
        for seed in (0, 1):
            got, want = (
                nb08.mystery_model(number, seed),
                planted_model(nb08.MYSTERIES[number - 1], "lecture", seed),
            )
            assert [type(m) for m in got] == [type(m) for m in want], (number, seed)
            for a, b in zip(got.parameters(), want.parameters(), strict=True):
                assert a.equal(b), (number, seed)
    with pytest.raises(ValueError, match="^number"):
        nb08.mystery_model(0)
