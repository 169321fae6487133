"""A stable colour per part: part ``i`` has the same colour in every picture.

The first 20 colours are Tableau's categorical palettes (tab10, then the light tab20 colours);
part ``i >= 20`` gets a hue from the golden-ratio sequence.  Unlabelled (``-1``) is light grey.
No matplotlib needed.
"""

from __future__ import annotations

import colorsys

import numpy as np

__all__ = ["PALETTE", "UNLABELLED_COLOR", "colors_of", "label_colors", "labels_to_rgb"]

#: (20, 3) uint8: the colours of parts 0..19.
PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
], dtype=np.uint8)

#: The colour of unlabelled elements (label ``-1``), uint8 RGB.
UNLABELLED_COLOR = np.array([220, 220, 220], dtype=np.uint8)


def label_colors(n: int) -> np.ndarray:
    """Colours of parts ``0 .. n-1``: ``(n, 3)`` uint8, the same for every ``n`` (a prefix).

    >>> label_colors(2).tolist()
    [[31, 119, 180], [255, 127, 14]]
    >>> bool((label_colors(30)[:20] == PALETTE).all())
    True
    """
    return colors_of(np.arange(max(int(n), 0)))


def _color(i: int) -> np.ndarray:
    if i < 0:
        return UNLABELLED_COLOR
    if i < len(PALETTE):
        return PALETTE[i]
    h = (i * 0.6180339887498949) % 1.0
    s = 0.55 + 0.35 * ((i // 3) % 2)
    v = 0.95 - 0.25 * ((i // 2) % 2)
    return np.round(np.array(colorsys.hsv_to_rgb(h, s, v)) * 255)


def colors_of(parts) -> np.ndarray:
    """Colours of the given part indices (any order, repeats, gaps): ``(n,)`` int ->
    ``(n, 3)`` uint8, part ``i`` as in :func:`label_colors` and ``-1`` (any negative) light grey.
    The cost grows with the number of distinct parts, not with the largest index, so a
    label of 10**12 costs no more than a label of 3.

    >>> colors_of([1, 10**12, -1])[[0, 2]].tolist()
    [[255, 127, 14], [220, 220, 220]]
    """
    lab = np.asarray(parts, dtype=np.int64).ravel()
    uniq, inv = np.unique(lab, return_inverse=True)
    table = np.empty((len(uniq), 3), dtype=np.uint8)
    for k, i in enumerate(uniq.tolist()):
        table[k] = _color(i)
    return table[inv.ravel()]


def labels_to_rgb(labels, n_parts: int | None = None) -> np.ndarray:
    """RGB of every element: ``(n,)`` int labels -> ``(n, 3)`` uint8 (``-1`` -> light grey).
    ``n_parts`` is accepted for compatibility: part ``i`` has the same colour whatever it is.

    >>> labels_to_rgb([1, -1]).tolist()
    [[255, 127, 14], [220, 220, 220]]
    """
    return colors_of(labels)
