"""Region masks (adain_nst.masks): every accepted kind, the validation messages, fitting, label maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain_nst import ImageReadError, InputError, MaskError
from adain_nst.masks import (
    fit_masks,
    format_label,
    load_mask,
    load_masks,
    mask_list,
    masks_from_labels,
    parse_label,
    prepare_masks,
    resize_masks,
)


def test_every_kind_of_mask_reads_as_weights(tmp_path: Path) -> None:
    grey = np.array([[0, 128], [255, 64]], dtype=np.uint8)
    expected = torch.from_numpy(grey.astype(np.float32) / 255)
    Image.fromarray(grey, mode="L").save(tmp_path / "m.png")
    torch.testing.assert_close(load_mask(tmp_path / "m.png"), expected)
    torch.testing.assert_close(load_mask(str(tmp_path / "m.png")), expected)
    torch.testing.assert_close(load_mask(Image.fromarray(grey).convert("RGB")), expected, atol=1 / 255, rtol=0)
    torch.testing.assert_close(load_mask(grey), expected)
    torch.testing.assert_close(load_mask(grey[:, :, None]), expected)
    torch.testing.assert_close(load_mask(torch.from_numpy(grey)[None, None]), expected)
    assert torch.equal(load_mask(np.array([[True, False]])), torch.tensor([[1.0, 0.0]]))
    assert torch.equal(load_mask(np.array([[0, 1]], dtype=np.int64)), torch.tensor([[0.0, 1.0]]))
    assert torch.equal(load_mask(torch.tensor([[0.25, 1.0]])), torch.tensor([[0.25, 1.0]]))
    assert torch.equal(load_mask(np.array([[0, 65535]], dtype=np.uint16)), torch.tensor([[0.0, 1.0]]))
    # a transparent PNG: its alpha is the mask (whatever its colour)
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = [[255, 0], [0, 255]]
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    assert torch.equal(load_mask(tmp_path / "alpha.png"), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (torch.tensor([[0.5, float("nan")]]), "mask contains NaN or infinite values"),
        (torch.tensor([[0.0, 2.0]]), r"mask must hold weights in \[0, 1\], got \[0, 2\]"),
        (np.array([[0.0, 255.0]]), "divide by 255"),
        (np.array([[-1.0, 0.5]]), r"got \[-1, 0.5\]"),
        (np.array([[0, 7]], dtype=np.int32), "must hold 0 and 1"),
        (np.zeros((4, 4, 3), dtype=np.uint8), "label map"),
        (torch.zeros(2, 4, 4), r"\(H, W\), \(1, H, W\) or \(1, 1, H, W\)"),
        ("not-a-mask.xyz", "image file not found"),
        (3.5, "unsupported type float"),
        (np.zeros((0, 4)), "0 pixels"),
    ],
)
def test_bad_masks_are_named_errors(mask: object, message: str) -> None:
    expected = ImageReadError if isinstance(mask, str) else MaskError
    with pytest.raises(expected, match=message):
        load_mask(mask)  # type: ignore[arg-type]


def test_unreadable_mask_file_is_an_image_read_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"broken\.png"):
        load_masks([bad], 1)
    assert issubclass(MaskError, InputError) and issubclass(MaskError, ValueError)


def test_counts_none_and_empty_regions_are_refused() -> None:
    m = torch.ones(4, 4)
    with pytest.raises(MaskError, match=r"got 1 mask\(s\) for 2 style\(s\): pass one mask per style"):
        load_masks([m], 2)
    with pytest.raises(MaskError, match="mask 1 is None"):
        load_masks([m, None], 2)
    with pytest.raises(MaskError, match="mask 1 is empty"):
        load_masks([m, torch.zeros(4, 4)], 2)
    with pytest.raises(MaskError, match="mask 0 contains NaN"):
        load_masks([torch.full((4, 4), float("nan"))], 1)
    # a (K, H, W) stack is K masks; a single (H, W) mask is one
    assert len(mask_list(torch.ones(3, 4, 4))) == 3 and len(mask_list(torch.ones(1, 3, 4, 4))) == 3
    assert len(mask_list(np.ones((4, 5)))) == 1 and len(mask_list(np.ones((2, 4, 5)))) == 2
    with pytest.raises(MaskError, match="one mask per style"):
        mask_list(5)


def test_fit_resizes_normalises_overlaps_and_checks_the_aspect_ratio() -> None:
    left = torch.zeros(8, 16)
    left[:, :8] = 1.0
    everything = torch.ones(8, 16)
    fitted = fit_masks([left, everything], (16, 32))
    assert fitted.shape == (1, 2, 16, 32)
    total = fitted.sum(1)
    torch.testing.assert_close(total, torch.ones_like(total))  # overlap: divided by its sum
    torch.testing.assert_close(fitted[0, 0, :, :12], torch.full((16, 12), 0.5))
    torch.testing.assert_close(fitted[0, 1, :, 20:], torch.ones(16, 12))
    # masks summing under 1 are left alone (the content keeps the rest)
    torch.testing.assert_close(fit_masks([left], (8, 16))[0, 0], left)
    with pytest.raises(MaskError, match=r"mask 0 is 16x8 px \(2:1\) but the content is 10x10 px \(1:1\)"):
        fit_masks([left], (10, 10))
    dot = torch.zeros(64, 64)
    dot[0, 0] = 0.2
    with pytest.raises(MaskError, match="mask 0 is empty at the content's size"):
        prepare_masks([dot], 1, (8, 8))


def test_resize_masks_keeps_each_region_share() -> None:
    masks = fit_masks([torch.rand(12, 20), torch.rand(12, 20)], (12, 20))
    small = resize_masks(masks, (3, 5))
    assert small.shape == (1, 2, 3, 5)
    torch.testing.assert_close(small.mean(dim=(-2, -1)), masks.mean(dim=(-2, -1)))
    assert float(small.sum(1).max()) <= 1.0 + 1e-6
    assert resize_masks(masks, (24, 40)).shape == (1, 2, 24, 40)


def test_label_maps_of_integers_and_colours(tmp_path: Path) -> None:
    labels = np.array([[0, 0, 2], [5, 2, 2]], dtype=np.uint8)
    masks, found = masks_from_labels(labels)
    assert found == [0, 2, 5]
    assert [m.tolist() for m in masks] == [[[1, 1, 0], [0, 0, 0]], [[0, 0, 1], [0, 1, 1]], [[0, 0, 0], [1, 0, 0]]]
    Image.fromarray(labels, mode="L").save(tmp_path / "labels.png")
    masks, found = masks_from_labels(tmp_path / "labels.png", [5, 0])
    assert found == [5, 0] and masks[0].tolist() == [[0, 0, 0], [1, 0, 0]]
    assert masks_from_labels(torch.from_numpy(labels).long())[1] == [0, 2, 5]

    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[0] = (255, 0, 0)
    rgb[1, 0] = (0, 0, 255)
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "colours.png")
    masks, found = masks_from_labels(tmp_path / "colours.png")
    assert [format_label(x) for x in found] == ["#000000", "#0000ff", "#ff0000"]
    masks, _ = masks_from_labels(tmp_path / "colours.png", [parse_label("#f00")])
    assert masks[0].tolist() == [[1, 1], [0, 0]]
    # a palette image: its indices, or its colours when the labels are colours
    pal = Image.fromarray(rgb, mode="RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=3)
    assert len(masks_from_labels(pal)[0]) == 3
    assert masks_from_labels(pal, [(255, 0, 0)])[0][0].tolist() == [[1, 1], [0, 0]]


def test_label_map_errors() -> None:
    labels = np.array([[0, 1], [1, 1]])
    with pytest.raises(MaskError, match="label 7 does not occur in the label map; it holds 0, 1"):
        masks_from_labels(labels, [0, 7])
    with pytest.raises(MaskError, match="labels are integers"):
        masks_from_labels(labels, [(255, 0, 0)])
    noisy = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)  # as a JPEG would be
    with pytest.raises(MaskError, match=r"distinct colours .* save it losslessly"):
        masks_from_labels(noisy)
    with pytest.raises(MaskError, match="integers"):
        masks_from_labels(np.array([[0.5, 1.0]]))
    with pytest.raises(MaskError, match="a label is an integer"):
        parse_label("red")
    assert parse_label("12") == 12 and parse_label("#FF8800") == (255, 136, 0)
