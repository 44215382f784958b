"""Class vocabulary: canonical labels and the words users say for them.

The model always answers with the canonical label; questions use any of the
singular/plural expressions so that it learns to understand them all.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClassInfo", "CLASSES", "REGION_CLASSES", "GROUPS", "SOURCE_NAMES", "canonical_label", "article", "plural", "count_phrase",
           "singular_word"]


@dataclass(frozen=True)
class ClassInfo:
    """Words for one canonical class.

    Parameters
    ----------
    label : str
        Canonical label (what the model answers).
    singular : tuple of str
        Singular expressions, the first one being the canonical label.
    plural : tuple of str
        Plural expressions, the first one being the canonical plural.
    """

    label: str
    singular: tuple[str, ...]
    plural: tuple[str, ...]


CLASSES: dict[str, ClassInfo] = {c.label: c for c in (
    ClassInfo("ship", ("ship", "boat", "vessel"), ("ships", "boats", "vessels")),
    ClassInfo("small target", ("small target", "dim target", "infrared target", "small infrared target"),
              ("small targets", "dim targets", "infrared targets", "small infrared targets")),
    ClassInfo("person", ("person", "pedestrian", "human"), ("people", "persons", "pedestrians")),
    ClassInfo("car", ("car", "automobile"), ("cars", "automobiles")),
    ClassInfo("bicycle", ("bicycle", "bike"), ("bicycles", "bikes")),
    ClassInfo("vehicle", ("vehicle", "other vehicle", "truck", "large vehicle"),
              ("vehicles", "other vehicles", "trucks", "large vehicles")),
    ClassInfo("oil well", ("oil well", "pumpjack", "well"), ("oil wells", "pumpjacks", "wells")),
    ClassInfo("storage tank", ("storage tank", "oil tank", "tank"), ("storage tanks", "oil tanks", "tanks")),
    ClassInfo("airplane", ("airplane", "aircraft", "plane"), ("airplanes", "aircraft", "planes")),
    ClassInfo("building", ("building", "house"), ("buildings", "houses")),
)}

#: what a prompted region can be: index 0 is background, then the canonical labels; the
#: model's auxiliary region classifier predicts these (EgxConfig.num_region_classes)
REGION_CLASSES = ("background",) + tuple(CLASSES)

#: words that name a group of classes in questions ("find all vehicles" includes cars)
GROUPS = {"vehicle": ("car", "vehicle")}

#: how each source is named in answers
SOURCE_NAMES = {"optical": "optical", "sar": "SAR", "infrared": "infrared"}

_ALIASES = {"oilwell": "oil well", "oil_well": "oil well", "othervehicle": "vehicle", "other vehicle": "vehicle",
            "target": "small target", "plane": "airplane", "aircraft": "airplane", "boat": "ship"}


def canonical_label(name: str) -> str:
    """Map a dataset's class name to the canonical label.

    Raises
    ------
    ValueError
        If the name is not a known class or alias.
    """
    key = name.strip().lower()
    if key in CLASSES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown class name {name!r}; known: {sorted(CLASSES)} (or add an alias in vocabulary.py)")


def article(word: str) -> str:
    """'a' or 'an' for a singular noun phrase."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def plural(label: str) -> str:
    """Canonical plural of a canonical label."""
    return CLASSES[label].plural[0]


def count_phrase(n: int, label: str) -> str:
    """'1 ship', '3 ships', 'no ships', '3 people'; words outside the vocabulary get an 's'."""
    many = plural(label) if label in CLASSES else (label if label.endswith("s") else label + "s")
    if n == 0:
        return f"no {many}"
    return f"{n} {label if n == 1 else many}"


def singular_word(word: str) -> str:
    """The canonical label when ``word`` names a class in either number ('people' -> 'person'), else
    the word with a plural 's' removed ('tanks' -> 'tank')."""
    key = word.strip().lower()
    for info in CLASSES.values():
        if key in info.singular or key in info.plural:
            return info.label
    if key.endswith("ies") and len(key) > 4:
        return word[:-3] + "y"
    if key.endswith("s") and not key.endswith("ss") and len(key) > 3:
        return word[:-1]
    return word
