"""The quality-against-speed figure labels its log axis with plain numbers: TeX is off in
the board's figures (a method's name is text), so TeX tick labels would show raw."""

import re
from unittest import mock

from hypothesis import given, settings, strategies as st

from colorbench.reporting import figures

speeds = st.floats(min_value=1e-3, max_value=1e8, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(st.lists(speeds, min_size=1, max_size=4))
def test_the_speed_axis_is_labelled_with_plain_numbers(tmp_path_factory, img_per_s):
    rows = [{"display": f"m{i}", "LPIPS": 0.1 + i / 100, "img/s": s, "hint": None} for i, s in enumerate(img_per_s)]
    drawn = []
    with mock.patch.object(figures, "_save", lambda fig, path: drawn.append(fig) or path):
        figures.quality_vs_speed(rows, tmp_path_factory.mktemp("fig") / "speed.png", "title")
    (fig,) = drawn
    fig.canvas.draw()
    axis = fig.axes[0].xaxis
    labels = [t.get_text() for t in axis.get_ticklabels(which="both")]
    figures._matplotlib().close(fig)
    shown = [text for text in labels if text]
    assert shown and all(re.fullmatch(r"[0-9][0-9,]*(\.[0-9]+)?", text) for text in shown), labels
