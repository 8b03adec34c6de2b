"""The checked exercises of 00: answerable, and not answered anywhere in the lesson."""

import torch
from notebook_text import lesson_text

from helpers import exercises
from helpers.data import lecture_split
from helpers.stats import probe as helpers_probe


def test_exercise_1_asks_for_a_level_the_lesson_never_prints():
    level = lecture_split(seed=1).constant_mse()
    text = lesson_text("00_toolkit.ipynb")
    assert not any(f"{level:.{d}f}" in text for d in (1, 2, 3)), "the lesson prints exercise 1's answer"
    assert exercises.verdict("00.1", lecture_split(seed=0).constant_mse())[0] is False  # the printed level


def test_exercise_1_accepts_the_answer_computed_from_the_labels():
    other = lecture_split(seed=1)
    by_hand = ((other.y_test - other.y_train.mean()) ** 2).mean()  # a tensor, as a student may leave it
    assert exercises.verdict("00.1", by_hand)[0]
    assert exercises.verdict("00.1", round(by_hand.item(), 1))[0]  # rounded as the lesson rounds


def test_exercise_2_accepts_equivalent_functions():
    assert exercises.verdict("00.2", lambda a, b: torch.nn.functional.mse_loss(b, a.mean().expand_as(b)))[0]
    assert exercises.verdict("00.2", lambda a, b: ((b - a.mean()) ** 2).mean().item())[0]


def test_choice_exercises_accept_any_spelling_of_the_right_answer():
    for key, answer in (("00.4", " Up "), ("00.4", "UP"), ("00.5", "A"), ("00.5", "a ")):
        assert exercises.verdict(key, answer)[0], (key, answer)
    assert not exercises.verdict("00.4", "down")[0] and not exercises.verdict("00.5", "b")[0]


def test_exercise_3_accepts_either_std_convention():
    def numpy_ratio(model, x, y):  # np.std divides by n
        grads = helpers_probe(model, x, y).weight_grads
        return grads[0].numpy().std() / grads[-1].numpy().std()

    def biased_ratio(model, x, y):
        grads = helpers_probe(model, x, y).weight_grads
        return grads[0].std(correction=0) / grads[-1].std(correction=0)

    assert exercises.verdict("00.3", numpy_ratio)[0]
    assert exercises.verdict("00.3", biased_ratio)[0]
    assert exercises.verdict("00.3", exercises.nb00._grad_ratio)[0]
    assert not exercises.verdict("00.3", lambda m, x, y: 1 / exercises.nb00._grad_ratio(m, x, y))[0]
