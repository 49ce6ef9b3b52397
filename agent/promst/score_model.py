"""A score model: predicts a prompt's score from its text, so only promising candidates are run.

PROMST's paper fine-tunes a text encoder; its released code leaves the model
empty. Ours is cheap, local and downloads nothing: word 1-2-gram TF-IDF features
plus character 3-5-gram hashed features, fed to a ridge regressor (or gradient
boosting), refitted online on the search's (prompt, score) pairs. Until
``min_pairs`` pairs with differing scores exist it makes no predictions and
filters nothing.

Filtering rule (:meth:`ScoreModel.select`): evaluate a candidate if its
prediction is within ``margin`` of the best score evaluated so far or of the best
prediction among its siblings (whichever is lower); always keep the ``min_keep``
best-predicted ones so the search can go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ScoreModel", "ScoreModelConfig"]


@dataclass(frozen=True)
class ScoreModelConfig:
    """``regressor``: ``ridge`` (default, fast, stable on a few dozen pairs) or ``gbr``."""

    regressor: Literal["ridge", "gbr"] = "ridge"
    min_pairs: int = 4
    margin: float = 0.1
    min_keep: int = 1
    alpha: float = 1.0


class ScoreModel:
    """Online (prompt, score) regressor with a candidate filter (see the module docstring)."""

    def __init__(self, config: ScoreModelConfig | None = None) -> None:
        self.config = config or ScoreModelConfig()
        self.texts: list[str] = []
        self.scores: list[float] = []
        self._model: Any = None

    def __repr__(self) -> str:
        return f"ScoreModel(pairs={len(self.texts)}, trained={self.trained})"

    @property
    def trained(self) -> bool:
        """True once the model has been fitted and predicts."""
        return self._model is not None

    def add(self, text: str, score: float) -> None:
        """Record one evaluated prompt and refit when there is enough to learn from."""
        self.texts.append(text)
        self.scores.append(float(score))
        self._fit()

    def _fit(self) -> None:
        cfg = self.config
        if len(self.texts) < cfg.min_pairs or max(self.scores) - min(self.scores) < 1e-9:
            return
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
            HashingVectorizer(
                analyzer="char_wb", ngram_range=(3, 5), n_features=2**14, alternate_sign=False
            ),
        )
        regressor: Any
        if cfg.regressor == "ridge":
            regressor = Ridge(alpha=cfg.alpha)
        else:  # imported only when asked for: sklearn.ensemble is slow to import
            from sklearn.ensemble import GradientBoostingRegressor

            regressor = GradientBoostingRegressor(n_estimators=100, max_depth=2, random_state=0)
        model = make_pipeline(features, regressor)
        model.fit(self.texts, self.scores)
        self._model = model

    def predict(self, texts: Sequence[str]) -> list[float] | None:
        """Predicted scores clipped to [0, 1], or None while untrained."""
        if self._model is None or not texts:
            return None
        return [min(1.0, max(0.0, float(p))) for p in self._model.predict(list(texts))]

    def select(self, texts: Sequence[str], best: float) -> tuple[list[int], list[float] | None]:
        """Indices of ``texts`` worth evaluating, and the predictions (None: untrained, keep all)."""
        predicted = self.predict(texts)
        if predicted is None:
            return list(range(len(texts))), None
        cfg = self.config
        ranked = sorted(range(len(texts)), key=lambda i: -predicted[i])
        keep = {i for i in ranked[: cfg.min_keep]}
        # Ridge on a few pairs shrinks toward the mean, so compare with the best
        # prediction too: a child predicted near the top of its siblings is kept.
        threshold = min(best, max(predicted)) - cfg.margin
        keep |= {i for i, p in enumerate(predicted) if p >= threshold}
        return sorted(keep), predicted
