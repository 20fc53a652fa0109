"""The example images shipped in the package."""

from __future__ import annotations

from reverse_anything.data import example_images, read_image


def test_example_images_are_shipped_and_readable() -> None:
    paths = example_images()
    assert [p.name for p in paths] == ["astronaut.png", "camera.png", "coffee.png"]
    channels = {}
    for path in paths:
        image = read_image(path, "keep", min_size=32)
        assert max(image.shape[1:]) <= 256
        channels[path.name] = image.shape[0]
    assert channels == {"astronaut.png": 3, "camera.png": 1, "coffee.png": 3}
    assert (paths[0].parent / "SOURCE.md").is_file()
