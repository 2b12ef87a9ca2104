"""The spatial model in the browser through Mesa's SolaraViz (the Mesa examples' layout): scenario choice, the
grid coloured as in the PNG snapshots (antigen-high / low / negative tumour, vessels, active and exhausted CAR
T cells), play / pause / step, and live population plots.

    solara run abm/app.py          # alone; `cartsim app` shows it as its Spatial page
"""

from __future__ import annotations

import io

import solara
from mesa.visualization import SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter
from PIL import Image

from .model import TumourModel
from .render import COLOURS, frame_rgb
from .scenarios import SCENARIOS, scenario_params


class ScenarioModel(TumourModel):
    """A :class:`TumourModel` built from a named scenario (what SolaraViz's reset re-creates)."""

    def __init__(self, scenario: str = "clustered_negative", width: int = 80, seed: int = 1):
        super().__init__(seed=seed, **scenario_params(scenario, {"width": width, "height": width}))


def _legend() -> str:
    items = [("antigen-high", "high"), ("antigen-low", "low"), ("antigen-negative", "negative"),
             ("vessel", "vessel"), ("CAR T active", "car_t_active"), ("CAR T exhausted", "car_t_exhausted")]
    return " ".join(f'<span style="color: rgb{COLOURS[k]}">&#9632;</span> {label}' for label, k in items)


@solara.component
def Grid(model: TumourModel):
    update_counter.get()
    img = Image.fromarray(frame_rgb(model.tumour_class, model.car_t, model.vessel))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    solara.Markdown(f"**hour {model.time_hours:.0f}** (step {model.steps}) · {model.tumour_cells} tumour cells, "
                    f"{model.car_t_cells} CAR T")
    solara.Image(buf.getvalue(), width="480px")
    solara.HTML(unsafe_innerHTML=_legend())


MODEL_PARAMS = {
    "scenario": {"type": "Select", "value": "clustered_negative", "values": list(SCENARIOS), "label": "scenario"},
    "width": {"type": "SliderInt", "value": 80, "min": 40, "max": 200, "step": 20, "label": "grid width (sites)"},
    "seed": {"type": "InputText", "value": 1, "label": "seed"},
}


@solara.component
def Page():
    model = solara.use_memo(lambda: ScenarioModel(), [])
    SolaraViz(
        model,
        components=[(Grid, 0),
                    make_plot_component(["tumour_cells", "antigen_negative", "car_t_cells", "car_t_in_tumour"])],
        model_params=MODEL_PARAMS,
        name="Spatial CAR T / antigen heterogeneity",
        play_interval=150,
    )
