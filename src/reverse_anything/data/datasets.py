"""Test-image folders, the random-patch training sampler and the 8 dihedral augmentations."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import torch
from tqdm.auto import tqdm

from .io import IMAGE_SUFFIXES, READ_MODES, StrPath, read_image

NUM_DIHEDRAL = 8


def list_image_files(root: StrPath, recursive: bool = False) -> list[Path]:
    """Image files (by suffix, any case) under ``root``, sorted by path so order is reproducible.

    Other files in a data folder (SOURCE.md, MANIFEST.sha256, ID_MAP.txt, ...) are ignored.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    candidates = root.rglob("*") if recursive else root.iterdir()
    files = sorted(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(
            f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found"
            + (" in it or its subfolders" if recursive else "")
        )
    return files


def _check_dihedral_index(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < NUM_DIHEDRAL:
        raise ValueError(f"dihedral index must be an integer in 0..7, got {k!r}")


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element ``k`` (0..7) of the dihedral group on the last two axes.

    ``k = r + 4 f``: mirror left-right if ``f`` is 1, then rotate by ``r`` quarter turns. ``k = 0``
    is the identity. Square patches stay square, so all 8 suit a training batch.
    """
    _check_dihedral_index(k)
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    """Undo :func:`dihedral`: ``dihedral_inverse(dihedral(x, k), k) == x``."""
    _check_dihedral_index(k)
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


class ImageFolder(Sequence[tuple[str, torch.Tensor]]):
    """The image files of one folder (not its subfolders), sorted by name, read on access.

    ``folder[i]`` is ``(file name, (C, H, W) float32 tensor)`` read with the folder's ``mode``
    (see :func:`~reverse_anything.data.read_image`); ``limit`` keeps only the first files.
    """

    def __init__(
        self, root: StrPath, mode: str = "rgb", limit: int | None = None, min_size: int = 1
    ) -> None:
        if mode not in READ_MODES:
            raise ValueError(f"mode must be one of {', '.join(READ_MODES)}; got {mode!r}")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
        self.root = Path(root)
        self.mode = mode
        self.min_size = min_size
        self.paths = list_image_files(self.root)[:limit]

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> tuple[str, torch.Tensor]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, torch.Tensor]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        path = self.paths[index]  # IndexError past the end ends iteration, as Sequence expects
        return path.name, read_image(path, self.mode, min_size=self.min_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, mode={self.mode!r}, n={len(self)})"


def _compact(image: torch.Tensor) -> torch.Tensor:
    """Store 8-bit images as uint8 (4x less memory); anything finer stays float32.

    Conversion back (``uint8 / 255`` in float32) gives exactly what ``read_image`` returned.
    """
    as_uint8 = (image * 255).round().to(torch.uint8)
    return as_uint8 if torch.equal(as_uint8.float() / 255, image) else image


def _as_float(stored: torch.Tensor) -> torch.Tensor:
    return stored.float() / 255 if stored.dtype == torch.uint8 else stored


class RandomPatchSampler:
    """Endless batches of random square training patches with random dihedral augmentation.

    All images under ``root`` (recursively, sorted by path) are read once in ``mode``; images with
    a side shorter than ``patch_size`` are skipped and listed in ``skipped``; files in
    ``exclude`` are left out (a validation hold-out). Each patch picks an
    image with probability proportional to its number of patch positions (so every position in
    the data set is equally likely), a uniform position, and one of the 8 dihedral transforms.

    All randomness comes from one seeded CPU ``torch.Generator``: the same seed gives the same
    batches, and :meth:`state_dict` / :meth:`load_state_dict` resume a run exactly. Batches are
    float32 ``(B, C, P, P)`` on the CPU; move them to the training device yourself.
    """

    def __init__(
        self,
        root: StrPath,
        patch_size: int,
        batch_size: int,
        mode: str = "y",
        seed: int = 0,
        augment: bool = True,
        progress: bool = True,
        exclude: Collection[StrPath] = (),
    ) -> None:
        if mode not in ("y", "grey", "rgb"):
            raise ValueError(
                f"mode must be 'y', 'grey' or 'rgb' (one channel count per batch); got {mode!r}"
            )
        for name, value in (("patch_size", patch_size), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.root = Path(root)
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.mode = mode
        self.augment = augment
        self.seed = seed
        self.images: list[torch.Tensor] = []
        self.paths: list[Path] = []
        self.skipped: list[Path] = []
        excluded = {Path(p).resolve() for p in exclude}
        files = [p for p in list_image_files(self.root, recursive=True) if p.resolve() not in excluded]
        for path in tqdm(files, desc=f"loading {self.root.name}", unit="img", disable=not progress):
            image = read_image(path, mode)
            if min(image.shape[-2:]) < patch_size:
                self.skipped.append(path)
                continue
            self.images.append(_compact(image))
            self.paths.append(path)
        if not self.images:
            raise ValueError(
                f"{self.root}: all {len(files)} images are smaller than the patch size {patch_size}"
            )
        positions = [
            (h - patch_size + 1) * (w - patch_size + 1)
            for h, w in (im.shape[-2:] for im in self.images)
        ]
        self._image_weights = torch.tensor(positions, dtype=torch.float64)
        self._generator = torch.Generator().manual_seed(seed)
        self.batches_drawn = 0

    def __len__(self) -> int:
        """Number of usable (not skipped) images."""
        return len(self.images)

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> torch.Tensor:
        """Draw one ``(B, C, P, P)`` batch."""
        gen, size = self._generator, self.patch_size
        picks = torch.multinomial(
            self._image_weights, self.batch_size, replacement=True, generator=gen
        )
        # Uniform floats scaled to each image's range keep the draw count fixed per sample.
        corners = torch.rand(self.batch_size, 2, generator=gen, dtype=torch.float64)
        transforms = torch.randint(0, NUM_DIHEDRAL, (self.batch_size,), generator=gen)
        patches = []
        for index, (u, v), k in zip(
            picks.tolist(), corners.tolist(), transforms.tolist(), strict=True
        ):
            image = self.images[index]
            rows, cols = image.shape[-2] - size + 1, image.shape[-1] - size + 1
            top, left = min(int(u * rows), rows - 1), min(int(v * cols), cols - 1)
            patch = _as_float(image[:, top : top + size, left : left + size])
            patches.append(dihedral(patch, k) if self.augment else patch)
        self.batches_drawn += 1
        return torch.stack(patches)

    def _fingerprint(self) -> dict[str, Any]:
        return {
            "files": [p.relative_to(self.root).as_posix() for p in self.paths],
            "patch_size": self.patch_size,
            "batch_size": self.batch_size,
            "mode": self.mode,
            "augment": self.augment,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the exact same sequence of batches."""
        return {
            "generator": self._generator.get_state(),
            "batches_drawn": self.batches_drawn,
            "seed": self.seed,
            **self._fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`; refuses a state made with other data or settings."""
        mine = self._fingerprint()
        differing = [key for key in mine if state.get(key) != mine[key]]
        if differing:
            raise ValueError(
                f"sampler state does not match this sampler ({', '.join(differing)} differ); "
                "resuming would not reproduce the run"
            )
        self._generator.set_state(state["generator"])
        self.batches_drawn = int(state["batches_drawn"])
        self.seed = state["seed"]
