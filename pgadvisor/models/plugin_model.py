"""A model plugin (entry point `pgadvisor.models`, see pgadvisor/plugins.py) behind the QueryTimeModel calls
that `train` and `predict` make: held-out evaluation, explain. A plugin predicts milliseconds from a plan
frame; it has no interval, no gate and no contributions of its own, so its interval is its prediction and
every plan counts as in support. Its bytes are whatever its `save()` returns, stored as kind `plugin:NAME`."""

from __future__ import annotations

from typing import Any

from pgadvisor.models.features import plan_frame
from pgadvisor.models.query_time import Prediction, log_ms

PREFIX = "plugin:"


class PluginModel:
    """Adapts a plugin model object (fit/predict/save/load) to the calls train and predict make."""

    def __init__(self, name: str, cls: Any, obj: Any = None):
        self.name, self.cls, self.obj = name, cls, obj

    @property
    def kind(self) -> str:
        return PREFIX + self.name

    def fit(self, frame: Any) -> PluginModel:
        self.obj = self.cls().fit(frame)
        return self

    def predict_log(self, frame: Any, gate: bool = True) -> tuple[Any, Any]:
        import numpy as np

        pred = np.asarray(list(self.obj.predict(frame)), dtype=float)
        return log_ms(pred), np.ones(len(pred), dtype=bool)

    def explain_plans(self, plans: list[Any]) -> list[Prediction]:
        """Predictions for raw plan documents (a plugin reads the plan frame)."""
        import numpy as np

        logp, _ = self.predict_log(plan_frame(plans))
        return [Prediction(float(np.exp(v)), (float(np.exp(v)), float(np.exp(v))), True) for v in logp]

    def save(self) -> bytes:
        data = self.obj.save()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"plugin {self.name}'s save() returned {type(data).__name__}, not bytes")
        return bytes(data)

    @classmethod
    def load(cls, name: str, plugin_cls: Any, data: bytes) -> PluginModel:
        return cls(name, plugin_cls, plugin_cls.load(data))
