"""Pictures of the grid: tumour coloured by antigen class, CAR T cells drawn over it (PNG snapshots, GIF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["FrameRecorder", "frame_rgb", "save_gif", "COLOURS"]

#: RGB per tumour class code (0 empty, 1 high, 2 low, 3 negative), then vessel, CAR T active, exhausted.
COLOURS = {
    "empty": (245, 243, 238), "high": (178, 34, 34), "low": (244, 164, 96), "negative": (70, 110, 160),
    "vessel": (20, 20, 20), "car_t_active": (30, 200, 60), "car_t_exhausted": (230, 230, 40),
}
_CLASS_RGB = np.array([COLOURS["empty"], COLOURS["high"], COLOURS["low"], COLOURS["negative"]], dtype=np.uint8)


def _scale_for(shape: tuple[int, int], target_px: int = 480) -> int:
    return max(1, min(8, target_px // max(shape)))


def frame_rgb(tumour_class: np.ndarray, car_t: np.ndarray, vessel: np.ndarray | None = None,
              scale: int | None = None) -> np.ndarray:
    """RGB image (rows = y, columns = x, y up) of one state; CAR T cells as inner squares when ``scale`` ≥ 3."""
    s = _scale_for(tumour_class.shape) if scale is None else scale
    img = _CLASS_RGB[tumour_class]
    if vessel is not None:
        img[vessel] = COLOURS["vessel"]
    img = np.repeat(np.repeat(img, s, axis=0), s, axis=1)
    lo, hi = (s // 4, s - s // 4) if s >= 3 else (0, s)
    for code, key in ((1, "car_t_active"), (2, "car_t_exhausted")):
        xs, ys = np.nonzero(car_t == code)
        for ox in range(lo, hi):
            for oy in range(lo, hi):
                img[xs * s + ox, ys * s + oy] = COLOURS[key]
    # [x, y] arrays -> image rows from the top: transpose and flip so y grows upwards.
    return np.ascontiguousarray(img.transpose(1, 0, 2)[::-1])


class FrameRecorder:
    """Keeps compact copies (int8) of the grid every ``every`` steps for snapshots and the animation."""

    def __init__(self, every: int = 1) -> None:
        self.every = max(1, int(every))
        self.frames: list[tuple[float, np.ndarray, np.ndarray]] = []

    def record(self, model, force: bool = False) -> None:
        """Store the model's current state if due (or ``force``)."""
        if force or model.steps % self.every == 0:
            if self.frames and self.frames[-1][0] == model.time_hours:
                return
            self.frames.append((model.time_hours, model.tumour_class.copy(), model.car_t.copy()))


def save_gif(path: Path, frames: list[tuple[float, np.ndarray, np.ndarray]], vessel: np.ndarray | None,
             ms_per_frame: int = 120) -> None:
    """Animated GIF of recorded frames (Pillow)."""
    if not frames:
        raise ValueError("no frames recorded")
    images = [Image.fromarray(frame_rgb(tc, ct, vessel)) for _, tc, ct in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0,
                   optimize=False)
