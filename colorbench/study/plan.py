"""One participant's trials: which photos, which method's colourization of each, in
which order, and which image comes first.

Drawn from the participant's own seed (stored with them, so a plan can be
recomputed): the study's photos are shuffled and split into practice, test and
vigilance photos, so no photo is shown twice. Methods are dealt to the test
photos in turn, starting at the participant's index, so each participant judges
every method equally often (to one) and, across participants, each method meets
every photo. Practice pairs come first; vigilance pairs are shuffled in among
the test pairs; each pair's order is a fair coin.
"""

from __future__ import annotations

import random

from colorbench.study.manifest import Study


def make_plan(study: Study, index: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    p, methods = study.protocol, study.methods
    photos = sorted(study.photos)
    rng.shuffle(photos)
    practice = photos[: p.practice]
    test = photos[p.practice : p.practice + p.trials]
    vigilance = photos[p.practice + p.trials : p.photos_per_participant()]

    def pair(phase: str, photo_id: str, method: str | None) -> dict:
        photo = study.photos[photo_id]
        fake_image = photo.vigilance if method is None else photo.fakes[method]
        fake_first = rng.random() < 0.5
        first, second = (fake_image, photo.real) if fake_first else (photo.real, fake_image)
        return {"phase": phase, "photo": photo_id, "method": method, "first": first, "second": second, "fake": "first" if fake_first else "second"}

    def dealt(photo_ids: list[str]) -> list[str]:
        return [methods[(index + i) % len(methods)] for i in range(len(photo_ids))]

    counted = [pair("test", ph, m) for ph, m in zip(test, dealt(test))] + [pair("vigilance", ph, None) for ph in vigilance]
    rng.shuffle(counted)
    return [pair("practice", ph, m) for ph, m in zip(practice, dealt(practice))] + counted
