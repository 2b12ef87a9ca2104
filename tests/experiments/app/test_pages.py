"""The patient page's figure follows the model: a model with the cytokine layer gets its IL-6 panel."""

import hybrid
from experiments.app.pages import patient_figure


def test_the_cytokine_layer_gets_its_own_panel_and_kimmel_does_not():
    opts = hybrid.SimOptions()
    fig, p_end = patient_figure(hybrid.Parameters.from_preset("kimmel2021", "kimmel2021_crs"), opts, [])
    assert len(fig.axes) >= 3 and "IL-6 peak" in fig.axes[2].get_title()
    assert p_end is not None
    fig, _ = patient_figure(hybrid.Parameters.from_preset("kimmel2021"), opts, [])
    assert not any("IL-6" in ax.get_title() for ax in fig.axes)
