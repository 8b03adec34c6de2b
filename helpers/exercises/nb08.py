"""Checked exercises of 08 The training clinic: name what is wrong with a run from its dashboard.

Each answer is one of the verdict's names (helpers.diagnose.NAMES). The checker accepts the name in any case,
with hyphens or underscores, British or American spelling, common synonyms ("dying ReLU", "lr too high") and
a slip of a letter or two; a wrong answer gets the evidence to look at, never the name.
"""

import re

from helpers.exercises import exercise

MYSTERIES = (  # the planted problem of each of the lesson's mysteries, in order (the back of the book)
    "exploding gradients",
    "vanishing gradients",
    "dead units",
    "learning rate too high",
    "one badly initialised layer",
)
SYNONYMS = {  # other ways to say each name, after normalised()
    "one badly initialised layer": (
        "badly initialised layer",
        "one bad layer",
        "a bad layer",
        "bad layer",
        "one layer badly initialised",
        "a badly initialised layer",
        "bad layer init",
        "one badly scaled layer",
    ),
    "exploding gradients": ("exploding gradient", "exploding", "gradient explosion", "explosion"),
    "dead units": (
        "dead unit",
        "dead",
        "dead relu",
        "dead relus",
        "dead relu units",
        "dying relu",
        "dying relus",
        "dead neurons",
        "dead neuron",
        "dying units",
    ),
    "saturation": ("saturated units", "saturated", "saturating", "saturated tanh", "tanh saturation"),
    "vanishing gradients": ("vanishing gradient", "vanishing", "gradient vanishing"),
    "learning rate too high": (
        "learning rate too large",
        "too high learning rate",
        "too large learning rate",
        "high learning rate",
        "large learning rate",
        "learning rate is too high",
        "step size too large",
    ),
    "learning rate too low": (
        "learning rate too small",
        "too low learning rate",
        "too small learning rate",
        "low learning rate",
        "small learning rate",
        "learning rate is too low",
        "step size too small",
    ),
    "healthy": ("nothing wrong", "nothing", "fine", "ok"),
}
SPELLING = {"initialized": "initialised", "lr": "learning rate", "neurones": "neurons", "relu s": "relus"}


def normalised(text):
    """text lower-cased, punctuation, hyphens and underscores as spaces, US spellings and 'lr' spelled out."""
    words = re.sub(r"[^a-z0-9]+", " ", str(text).lower()).split()
    text = " ".join(SPELLING.get(w, w) for w in words)
    return re.sub(r"^(the|a|an) ", "", text)


def distance(a, b):
    """Levenshtein distance: the fewest single-letter insertions, deletions and substitutions from a to b."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def meant(answer):
    """The name of helpers.diagnose.NAMES an answer means, or None (a slip allowed: 1 letter per 8)."""
    text = normalised(answer)
    forms = [(f, name) for name, more in SYNONYMS.items() for f in (name, *more)]
    best = min(forms, key=lambda form: distance(text, form[0]))
    gap = distance(text, best[0])
    rivals = {name for f, name in forms if distance(text, f) == gap}  # a tie between two names means neither
    return best[1] if gap <= len(best[0]) // 8 and len(rivals) == 1 else None


class Diagnosis(str):
    """A name that equals every answer meaning it (see meant): the generic 'choice' checker compares
    str(answer).strip().lower() == str(expected).lower(), so a Diagnosis keeps itself through str() and
    lower() and does the comparison."""

    def __str__(self):
        return self

    def lower(self):
        return self

    def __eq__(self, other):
        return isinstance(other, str) and meant(other) == meant(str.__str__(self))

    def __ne__(self, other):
        return not self == other

    __hash__ = str.__hash__


def mystery(number, seed=0, every=6):
    """The Recorder of mystery `number` (1 to 5) of the lesson: a planted failure on the lecture data.

    every=6, not planted_run's 5: the lesson's stored records were made at every sixth step. (helpers.train
    scores each epoch under torch.no_grad, so the Recorder only ever sees training batches.)
    """
    from helpers.diagnose import planted_run

    if number not in range(1, len(MYSTERIES) + 1):
        raise ValueError(f"number: expected a mystery from 1 to {len(MYSTERIES)}, got {number!r}")
    return planted_run(MYSTERIES[number - 1], "lecture", seed, every=every)


def mystery_model(number, seed=0):
    """A fresh sick model of mystery `number` (1 to 5) for any seed: the net mystery(number, seed) trains.

    Like the lesson's healthy net: 4 hidden layers of 16 units (8 for mysteries 1 and 2), ReLU with He's init
    for even seeds and tanh with Xavier's gain 5/3 for odd ones, unless the mystery fixes the activation
    (mysteries 1 and 3: ReLU; mystery 2: sigmoid). Mystery 4's problem is its rate, not its model.
    """
    from helpers.diagnose import planted_model

    if number not in range(1, len(MYSTERIES) + 1):
        raise ValueError(f"number: expected a mystery from 1 to {len(MYSTERIES)}, got {number!r}")
    return planted_model(MYSTERIES[number - 1], "lecture", seed)


def register(key, name, hint, wrong):
    exercise(key, "choice", Diagnosis(name), hint, wrong=wrong)


register(
    "08.1",
    "exploding gradients",
    "read the activation-std panel (bottom middle) at step 0: how many decades separate the last hidden "
    "layer's std from layer 1's, and which is larger? Then read the scale of the loss and of the gradients",
    wrong=("vanishing gradients", "learning rate too high", "dead units", "healthy", "saturation"),
)
register(
    "08.2",
    "vanishing gradients",
    "read the bottom-left panel at step 0: how does layer 1's weight-gradient std compare with the last "
    "layer's, and which is smaller? Then the update ratios (top right): do the layers sit low together, "
    "within a decade or two, or fan out over many decades, layer 1 lowest?",
    wrong=("exploding gradients", "learning rate too low", "saturation", "dead units", "healthy"),
)
register(
    "08.3",
    "dead units",
    "read the bottom-right panel (solid lines) and the activation picture: what fraction of each layer's "
    "units give exactly zero on the whole batch, and from which step on?",
    wrong=("vanishing gradients", "saturation", "learning rate too low", "healthy", "exploding gradients"),
)
register(
    "08.4",
    "learning rate too high",
    "read the top row: what does the loss do after the first steps, and where do the update/weight ratios "
    "sit against the grey band around 1e-3?",
    wrong=("learning rate too low", "exploding gradients", "dead units", "vanishing gradients", "lr"),
)
register(
    "08.5",
    "one badly initialised layer",
    "compare the layers with each other at step 0 in the bottom row: does the activation and gradient std "
    "change steadily from layer to layer across the depth, or all at one place?",
    wrong=(
        "exploding gradients",
        "vanishing gradients",
        "dead units",
        "learning rate too high",
        "saturation",
    ),
)
register(
    "08.6",
    "saturation",
    "read the bottom-right panel's dotted lines and the activation picture: where on tanh's range "
    "(-1 to 1) do most outputs of layers 2 to 4 sit, and what is tanh's slope there? The weight-gradient "
    "panel (bottom left) says whether anything shrinks with depth",
    wrong=("vanishing gradients", "exploding gradients", "dead units", "learning rate too low", "healthy"),
)
