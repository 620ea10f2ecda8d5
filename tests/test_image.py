"""Image loading/conversion: every input kind, odd modes, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_nst import ImageReadError, InputError, load_image, save_image
from adain_nst.image import from_tensor, to_tensor


def _gradient(w: int = 24, h: int = 16) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    return np.concatenate([x + 0 * y, y + 0 * x, 255 - x + 0 * y], axis=2).astype(np.uint8)


def test_round_trip_of_each_kind() -> None:
    arr = _gradient()
    x, kind = to_tensor(arr)
    assert x.shape == (1, 3, 16, 24) and x.dtype == torch.float32
    assert np.array_equal(from_tensor(x, kind), arr)
    pil_back = from_tensor(*to_tensor(Image.fromarray(arr)))
    assert isinstance(pil_back, Image.Image) and np.array_equal(np.asarray(pil_back), arr)
    t = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    out = from_tensor(*to_tensor(t))
    assert out.shape == (3, 16, 24)
    torch.testing.assert_close(out, t)
    assert from_tensor(*to_tensor(t[None])).shape == (1, 3, 16, 24)
    f = arr.astype(np.float32) / 255
    assert from_tensor(*to_tensor(f)).dtype == np.float32


def test_grayscale_rgba_palette_16bit_and_exif(tmp_path: Path) -> None:
    arr = _gradient()
    gray = Image.fromarray(arr[..., 0])
    assert load_image(_save(gray, tmp_path / "g.png")).mode == "RGB"
    rgba = np.concatenate([arr, np.zeros_like(arr[..., :1])], axis=2)  # fully transparent
    assert (np.asarray(load_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"))) == 255).all()
    pal = Image.fromarray(arr).convert("P")
    assert load_image(_save(pal, tmp_path / "p.png")).size == (24, 16)
    deep = Image.fromarray(arr[..., 0].astype(np.uint16) * 257)
    assert deep.mode.startswith("I;16")
    got = np.asarray(load_image(_save(deep, tmp_path / "d.png")))
    assert abs(int(got[..., 0].max()) - int(arr[..., 0].max())) <= 1
    rotated = Image.fromarray(arr)
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise for display
    rotated.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (16, 24)


def _save(im: Image.Image, path: Path) -> Path:
    im.save(path)
    return path


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageReadError, match="not an image"):
        load_image(tmp_path / "notes.txt")
    Image.fromarray(_gradient(200, 200)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        load_image(tmp_path / "cut.jpg")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (torch.rand(3, 8), "shape"),
        (torch.rand(2, 5, 8, 8), "channel"),
        (torch.randint(0, 5, (3, 8, 8), dtype=torch.int64), "dtype"),
        (torch.full((3, 8, 8), float("nan")), "NaN"),
        (torch.full((3, 8, 8), float("inf")), "NaN or infinite"),
        (torch.rand(3, 8, 8) * 255, "0-255"),
        (np.zeros((8, 8, 5), np.uint8), "shape"),
        (np.zeros((8, 8, 3), np.int32), "dtype"),
        (np.zeros((0, 8, 3), np.uint8), "0 pixels"),
        ([1, 2, 3], "unsupported type"),
    ],
)
def test_bad_arrays_and_tensors(value: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        to_tensor(value, "content")  # type: ignore[arg-type]


def test_save_image_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    save_image(torch.rand(3, 8, 8), target)
    before = target.read_bytes()
    with pytest.raises(InputError, match="format"):
        save_image(torch.rand(3, 8, 8), tmp_path / "out.unknown")
    broken = Image.new("RGB", (4, 4))
    with pytest.raises(Exception):  # noqa: B017 - Pillow raises its own type for an unwritable mode
        save_image(broken.convert("I;16"), tmp_path / "out.jpg")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_saved_files_get_umask_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        target = save_image(torch.rand(3, 8, 8), tmp_path / "perm.png")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644
