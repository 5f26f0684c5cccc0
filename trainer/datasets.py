"""Datasets the trainer knows: scikit-learn's bundled sets and a generated text corpus."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets

from trainer.errors import ConfigError

TOPIC_VOCABULARY: dict[str, tuple[str, ...]] = {
    "sports": ("match", "goal", "team", "coach", "league", "score", "season", "player", "stadium", "final"),
    "technology": (
        "software",
        "chip",
        "cloud",
        "server",
        "network",
        "code",
        "startup",
        "robot",
        "data",
        "app",
    ),
    "food": ("recipe", "kitchen", "flavor", "dinner", "spice", "bread", "chef", "sauce", "menu", "dessert"),
    "travel": ("flight", "hotel", "beach", "passport", "journey", "island", "museum", "train", "map", "tour"),
}
FILLER_WORDS = ("the", "a", "new", "great", "today", "after", "with", "about", "big", "local", "every")


@dataclass(frozen=True)
class Dataset:
    """Features (named columns), target and, for classification, the class names."""

    features: pd.DataFrame
    target: np.ndarray
    target_names: tuple[str, ...] = ()


def generate_topic_corpus(samples_per_topic: int = 120, seed: int = 7) -> Dataset:
    """A small, deterministic, labelled corpus of short texts about four topics."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    topics = tuple(TOPIC_VOCABULARY)
    for label, topic in enumerate(topics):
        vocabulary = TOPIC_VOCABULARY[topic]
        for _ in range(samples_per_topic):
            words = list(rng.choice(vocabulary, size=int(rng.integers(2, 5))))
            words += list(rng.choice(FILLER_WORDS, size=int(rng.integers(2, 5))))
            # A little cross-topic noise keeps the task from being trivially separable.
            for _ in range(2):
                other = topics[int(rng.integers(len(topics)))]
                words.append(str(rng.choice(TOPIC_VOCABULARY[other])))
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(label)
    return Dataset(pd.DataFrame({"text": texts}), np.asarray(labels), topics)


def _from_bunch(bunch, names: tuple[str, ...] = ()) -> Dataset:
    frame = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=list(bunch.feature_names))
    return Dataset(frame, np.asarray(bunch.target), names)


def load_dataset(name: str) -> Dataset:
    """Load a dataset by name; every one ships with scikit-learn or is generated here."""
    if name == "topics":
        return generate_topic_corpus()
    if name == "digits":
        bunch = sk_datasets.load_digits()
        frame = pd.DataFrame(
            np.asarray(bunch.data, dtype=np.float64), columns=[f"pixel_{i}" for i in range(64)]
        )
        return Dataset(frame, np.asarray(bunch.target), tuple(str(n) for n in bunch.target_names))
    loaders = {
        "iris": sk_datasets.load_iris,
        "wine": sk_datasets.load_wine,
        "breast_cancer": sk_datasets.load_breast_cancer,
        "diabetes": sk_datasets.load_diabetes,
    }
    if name not in loaders:
        raise ConfigError(f"unknown dataset '{name}'; known: {sorted([*loaders, 'digits', 'topics'])}")
    bunch = loaders[name]()
    names = tuple(str(n) for n in getattr(bunch, "target_names", ()))
    return _from_bunch(bunch, names)
