"""The limits a network must meet before it is trained: parameters, and optionally multiply-accumulates per image and
the flash and RAM bytes of its int8 form. One object, so that a new limit is added here and in the closed forms."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from budget.closed_forms import COST_FORMS, Costs


class Limit(NamedTuple):
    """One limit: the Costs field it bounds, the search's setting (and flag), the run file's evaluation key and the
    unit messages count it in."""
    field: str
    setting: str
    column: str
    unit: str


LIMITS = {
    "max_size": Limit("parameters", "constraint_max_model_size", "model_size", "parameters"),
    "max_macs": Limit("macs", "constraint_max_macs", "macs", "multiply-accumulates per image"),
    "max_flash": Limit("flash", "constraint_max_flash", "flash", "bytes of flash (int8)"),
    "max_ram": Limit("ram", "constraint_max_ram", "ram", "bytes of RAM (int8 activations)"),
}


@dataclass(frozen=True)
class Limits:
    """At most max_size parameters, and at most max_macs, max_flash and max_ram where they are given."""

    max_size: float
    max_macs: float | None = None
    max_flash: float | None = None
    max_ram: float | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Limits:
        """The limits of a search's settings (a run file's, or the command line's)."""
        return cls(**{name: settings.get(limit.setting) for name, limit in LIMITS.items()})

    def given(self) -> dict[str, float]:
        """Each limit that is set, by name."""
        return {name: value for name, value in vars(self).items() if value is not None}

    def broken(self, costs: Costs) -> list[str]:
        """The names of the limits these costs break."""
        return [name for name, value in self.given().items() if getattr(costs, LIMITS[name].field) > value]

    def holds(self, config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> bool:
        """Whether the network of config meets every limit (only the costs limited are counted: repair asks often)."""
        return all(COST_FORMS[LIMITS[name].field](config, input_shape, num_classes) <= value
                   for name, value in self.given().items())
