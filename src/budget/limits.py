"""The limits a network must meet before it is trained: parameters, and optionally multiply-accumulates per image and
the flash and RAM bytes of its int8 form. One object, so that a new limit is added here and in the closed forms."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from budget.closed_forms import Costs, network_costs

# Each limit: the Costs field it bounds, the search's flag, main.py's flag and the unit it is counted in.
LIMITS = {
    "max_size": ("parameters", "--constraint_max_model_size", "--max_model_size", "parameters"),
    "max_macs": ("macs", "--constraint_max_macs", "--max_macs", "multiply-accumulates per image"),
    "max_flash": ("flash", "--constraint_max_flash", "--max_flash", "bytes of flash (int8)"),
    "max_ram": ("ram", "--constraint_max_ram", "--max_ram", "bytes of RAM (int8 activations)"),
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
        return cls(settings["constraint_max_model_size"], settings.get("constraint_max_macs"),
                   settings.get("constraint_max_flash"), settings.get("constraint_max_ram"))

    def given(self) -> dict[str, float]:
        """Each limit that is set, by name."""
        return {name: value for name, value in vars(self).items() if value is not None}

    def holds_for(self, costs: Costs) -> bool:
        return not self.broken(costs)

    def broken(self, costs: Costs) -> list[str]:
        """The names of the limits these costs break."""
        return [name for name, value in self.given().items() if getattr(costs, LIMITS[name][0]) > value]

    def holds(self, config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> bool:
        """Whether the network of config meets every limit."""
        return self.holds_for(network_costs(config, input_shape, num_classes))
