"""Approved CAR T products' doses, as their US prescribing information (label) states them: usable as
``product = "..."`` in dosing configs, where the product's range becomes the default dose grid and the range a
personalised dose is searched in.

Huang et al. (seed 000) summarise the five approved products of their Table 3 in the text: infused amounts of
0.2-5 x 10^6 cells/kg for patients <= 50 kg, or 0.1-6 x 10^8 flat; Table 3 itself is not in the text the project
holds, so each range below cites the label. Every product is a single infusion on its label (liso-cel's CD8 and
CD4 components are given minutes apart: one day here); fractionated and repeated schedules are the dosing
experiment's own (:mod:`experiments.dosing.schedules`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    """A product's dose range: ``low``-``high`` in ``unit`` ("cells", or "cells/kg" capped at ``max_cells``)."""

    name: str
    brand: str
    indication: str
    low: float
    high: float
    unit: str
    source: str
    max_cells: float | None = None

    def cells(self, body_weight_kg: float | None) -> tuple[float, float]:
        """The range in cells (per-kg ranges times the body weight, capped at the label's maximum)."""
        if self.unit == "cells":
            return self.low, self.high
        if body_weight_kg is None:
            raise ValueError(f"product {self.name} is dosed per kg: give a body weight")
        lo, hi = self.low * body_weight_kg, self.high * body_weight_kg
        if self.max_cells is not None:
            lo, hi = min(lo, self.max_cells), min(hi, self.max_cells)
        return lo, hi


_PI = "US prescribing information"
PRODUCTS: dict[str, Product] = {p.name: p for p in (
    Product("tisa-cel", "Kymriah", "adult large B-cell lymphoma", 0.6e8, 6.0e8, "cells",
            f"{_PI}: 0.6-6.0 x 10^8 CAR-positive viable T cells"),
    Product("tisa-cel-all", "Kymriah", "B-ALL, patients <= 50 kg", 0.2e6, 5.0e6, "cells/kg",
            f"{_PI}: 0.2-5.0 x 10^6 cells/kg (<= 50 kg; seed 000 quotes the same range, median 3.1 x 10^6/kg)",
            max_cells=2.5e8),
    Product("axi-cel", "Yescarta", "large B-cell lymphoma", 1.0e6, 2.0e6, "cells/kg",
            f"{_PI}: 2 x 10^6 cells/kg, at most 2 x 10^8; the lower end 1 x 10^6/kg assumed", max_cells=2.0e8),
    Product("brexu-cel", "Tecartus", "mantle cell lymphoma", 1.0e6, 2.0e6, "cells/kg",
            f"{_PI}: 2 x 10^6 cells/kg, at most 2 x 10^8 (B-ALL: 1 x 10^6/kg, at most 1 x 10^8)",
            max_cells=2.0e8),
    Product("liso-cel", "Breyanzi", "large B-cell lymphoma", 0.5e8, 1.1e8, "cells",
            f"{_PI}: 50-110 x 10^6 CAR-positive viable T cells (CD8 and CD4 components 1:1)"),
    Product("ide-cel", "Abecma", "multiple myeloma", 3.0e8, 4.6e8, "cells",
            f"{_PI}: 300-460 x 10^6 CAR-positive T cells (seed 000: 0.5 x 10^8 in 3 patients of CRB-401)"),
    Product("cilta-cel", "Carvykti", "multiple myeloma", 0.5e6, 1.0e6, "cells/kg",
            f"{_PI}: 0.5-1.0 x 10^6 cells/kg, at most 1 x 10^8", max_cells=1.0e8),
)}
