"""Image loading/conversion: every input kind, odd modes, and clear errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import adain_nst.image
from adain_nst import ImageReadError, ImageTooLargeError, InputError, load_image, save_image
from adain_nst._io import atomic_write
from adain_nst.image import from_tensor, image_size, list_images, output_stems, to_tensor


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


# -- limits, reduced decoding, folders, save_image (issue 12) ------------------------------------------
def test_declared_size_beyond_the_pixel_limit_is_refused_from_the_header(
    declared_png: Callable[[int, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = declared_png(100_000, 100_000)  # Pillow itself raises DecompressionBombError here
    with pytest.raises(ImageTooLargeError, match=r"100000x100000 px .* above the 200 MP limit.*MAX_PIXELS") as info:
        load_image(bomb)
    assert isinstance(info.value, InputError) and "\n" not in str(info.value)
    with pytest.raises(ImageTooLargeError):
        to_tensor(str(bomb))
    assert image_size(declared_png(20_000, 9_000), max_pixels=None) == (20_000, 9_000)  # header only, instant
    with pytest.raises(ImageTooLargeError, match="180 MP"):
        image_size(declared_png(20_000, 9_000), max_pixels=100_000_000)
    # The override: the module constant (process-wide) or max_pixels= (one call).
    small = _save(Image.fromarray(_gradient(24, 16)), declared_png(1, 1).with_name("small.png"))
    monkeypatch.setattr(adain_nst.image, "MAX_PIXELS", 100)
    with pytest.raises(ImageTooLargeError, match=r"384 pixels.*above the 100 pixels limit"):
        load_image(small)
    with pytest.raises(ImageTooLargeError):
        to_tensor(Image.open(small))  # PIL images are checked too
    assert load_image(small, max_pixels=None).size == (24, 16)
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's own limit is left as it was


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_large_files_are_decoded_reduced_when_a_smaller_size_is_asked(tmp_path: Path, suffix: str) -> None:
    base = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    path = tmp_path / f"big{suffix}"
    Image.fromarray(base).resize((1600, 1203), Image.Resampling.BICUBIC).save(path)
    reduced = load_image(path, size=64)
    assert 128 <= min(reduced.size) < 256  # never the full 1600 x 1203 in memory, never below 2 x size
    assert load_image(path).size == (1600, 1203)
    x, _ = to_tensor(str(path), size=64)
    full, _ = to_tensor(Image.open(path), size=64)  # the same resize from the fully decoded image
    assert x.shape == full.shape == (1, 3, 64, 85)
    assert float((x - full).abs().mean()) < 0.02


def test_hidden_and_appledouble_files_are_not_listed(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.png", "._a.png", ".hidden.jpg"):
        _save(Image.fromarray(_gradient()), tmp_path / name)
    (tmp_path / "._b.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble resource fork")
    (tmp_path / ".cache").mkdir()
    _save(Image.fromarray(_gradient()), tmp_path / ".cache" / "c.jpg")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.jpg"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == ["a.png", "b.jpg"]


def test_output_stems_disambiguate_suffixes_or_refuse() -> None:
    assert output_stems([Path("x/a.jpg"), Path("x/b.png")]) == ["a", "b"]
    assert output_stems([Path("pic.jpg"), Path("pic.png"), Path("other.png")]) == ["pic_jpg", "pic_png", "other"]
    assert output_stems([Path("Pic.jpg"), Path("pic.png")]) == ["Pic_jpg", "pic_png"]  # case-insensitive
    with pytest.raises(InputError, match="same name"):
        output_stems([Path("pic.JPG"), Path("pic.jpg")])


def test_zero_pixel_tensors_and_arrays_give_the_zero_pixel_error() -> None:
    for value in (torch.rand(3, 0, 32), torch.rand(1, 3, 32, 0), np.zeros((0, 5, 3), np.float32)):
        with pytest.raises(InputError, match="0 pixels"):
            to_tensor(value, "content")


def test_save_image_validates_like_stylize(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="divide by 255"):
        save_image(torch.rand(3, 32, 32) * 255, tmp_path / "x.png")
    with pytest.raises(InputError, match="divide by 255"):
        save_image(np.random.rand(32, 32, 3).astype(np.float32) * 255, tmp_path / "x.png")
    with pytest.raises(InputError, match="NaN"):
        save_image(torch.full((3, 4, 4), float("nan")), tmp_path / "x.png")
    with pytest.raises(InputError, match="0 pixels"):
        save_image(torch.rand(3, 0, 4), tmp_path / "x.png")
    with pytest.raises(InputError, match="one image"):
        save_image(torch.rand(2, 3, 4, 4), tmp_path / "x.png")
    with pytest.raises(InputError, match="is a folder"):
        save_image(torch.rand(3, 4, 4), tmp_path)
    with pytest.raises(InputError, match="is a folder"):
        save_image(torch.rand(3, 4, 4), f"{tmp_path}/newdir/")
    with pytest.raises(InputError, match="unknown image format"):
        save_image(torch.rand(3, 4, 4), tmp_path / "x.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    save_image(torch.rand(3, 4, 4).to(torch.float64), tmp_path / "ok.png")
    save_image((torch.rand(3, 4, 4) * 255).to(torch.uint8), tmp_path / "ok8.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png", "ok8.png"]


def test_animated_gif_warns_that_frame_0_is_used(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue", "green")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="3 frames .* only the first is used"):
        im = load_image(tmp_path / "anim.gif")
    assert im.getpixel((0, 0))[0] > 200  # red, frame 0
    frames[0].save(tmp_path / "still.gif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(tmp_path / "still.gif")


def test_atomic_write_removes_its_temp_file_on_any_exception(tmp_path: Path) -> None:
    def interrupted(f: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.png", interrupted)
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, lambda f: None)
    assert list(tmp_path.iterdir()) == []
