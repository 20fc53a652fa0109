"""labelled_grid: layout, colour handling and bad input."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.figures import labelled_grid


def test_grid_places_every_image_below_its_label() -> None:
    white, black = torch.ones(1, 10, 20), torch.zeros(3, 12, 8)
    grid = labelled_grid([[("a", white), ("b", black)], [("c", black)]], gap=2)
    assert grid.shape[0] == 3 and 0 <= grid.min() and grid.max() <= 1
    # columns as wide as their widest image, plus gaps: 2 + 20 + 2 + 8 + 2
    assert grid.shape[2] == 34
    # rows as tall as their tallest image plus one label line: 2 + (L + 12) + 2 + (L + 12) + 2
    label_height = (grid.shape[1] - 30) // 2
    assert label_height > 0 and grid.shape[1] == 30 + 2 * label_height
    top = 2 + label_height
    assert torch.equal(grid[:, top : top + 12, 24:32], torch.zeros(3, 12, 8))  # the black image
    assert torch.equal(grid[:, top : top + 10, 2:22], torch.ones(3, 10, 20))  # the grey one, as RGB
    assert grid[:, :top, 2:22].min() < 1  # some label ink above it


def test_grid_clamps_and_accepts_2d_images() -> None:
    grid = labelled_grid([[("x", torch.full((4, 4), 2.0))]])
    assert grid.max() == 1


@pytest.mark.parametrize("rows", [[], [[]], [[("bad", torch.zeros(2, 4, 4))]]])
def test_grid_rejects_bad_input(rows) -> None:
    with pytest.raises(ValueError):
        labelled_grid(rows)
