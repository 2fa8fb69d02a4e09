"""The protocol a study runs, after Zhang, Isola and Efros (2016), "Colorful Image
Colorization" (ECCV): their "colorization Turing test" (phillipi/AMT_Real_vs_Fake).

Each trial shows a real photo and a colourized version of the same photo, one
after the other for 1 s each (or side by side, a recorded option), in random
order; the participant says which one has fake colours. 10 practice pairs with
feedback come first; vigilance pairs (an obviously false-coloured version,
`create.vigilance_fake`) are mixed among the test pairs, and a participant who
misses more of them than allowed is excluded, and counted. No photo is shown
twice to one participant. The fooling rate of a method is how often its
colourization was taken for the real photo: 50 % is indistinguishable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

REFERENCE = (
    "Richard Zhang, Phillip Isola and Alexei A. Efros. Colorful Image Colorization. ECCV 2016: "
    "the 'colorization Turing test' (real vs. fake, 1 s per image, 10 practice pairs with feedback)"
)
QUESTION = "Which one has fake colours?"


@dataclass(frozen=True)
class Protocol:
    presentation: Literal["sequential", "side_by_side"] = "sequential"
    display_ms: int = 1000  # each image (sequential), or the pair (side by side)
    gap_ms: int = 250  # a blank between the two images of a sequential pair
    practice: int = 10  # pairs with feedback, not counted
    trials: int = 40  # counted test pairs per participant (at most: the photos left after practice and vigilance)
    vigilance: int = 2  # obviously fake pairs among the test pairs
    max_vigilance_misses: int = 0  # more misses than this: the participant is excluded

    def record(self) -> dict:
        return asdict(self) | {"reference": REFERENCE, "question": QUESTION, "exclusion": self.exclusion_rule()}

    def photos_per_participant(self) -> int:
        return self.practice + self.trials + self.vigilance

    def exclusion_rule(self) -> str:
        return (
            f"a participant counts once they have answered all {self.trials} test and {self.vigilance} vigilance pairs; "
            f"one who missed more than {self.max_vigilance_misses} vigilance pair(s) is excluded (inattentive), "
            "one who did not finish is left out as incomplete; both are counted"
        )

    def describe(self) -> str:
        shown = (
            f"one after the other, {self.display_ms} ms each with {self.gap_ms} ms between"
            if self.presentation == "sequential" else f"side by side for {self.display_ms} ms"
        )
        return (
            f"a real photo and a colourization of it, {shown}, order randomised; '{QUESTION}'; "
            f"{self.practice} practice pairs with feedback, then {self.trials} test pairs with {self.vigilance} vigilance pairs "
            f"among them; no photo twice to one participant"
        )
