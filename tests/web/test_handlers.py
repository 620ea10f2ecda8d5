"""The web page's handlers as plain functions (no Gradio, no browser)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from adain_nst import ImageReadError, InputError, samples
from adain_nst.web import handlers as h

STYLES = samples.names("style")


def _photo(path: Path, size: tuple[int, int] = (60, 96)) -> Path:
    Image.new("RGB", size, (200, 120, 40)).save(path)
    return path


def _page_args(content: Path | None = None, **over: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "content_upload": str(content) if content else None,
        "content_sample": "chelsea",
        "style_names": ["monet_etretat"],
        "style_uploads": None,
        "weights_text": "",
        "alpha": 1.0,
        "transform": "adain",
        "levels_label": next(iter(h.LEVELS)),
        "color_label": next(iter(h.COLOR_MODES)),
        "size": 512.0,
    }
    args.update(over)
    return args


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``adain_nst.stylize`` in the handlers by a recorder returning a grey image of the asked size."""
    seen: list[dict[str, Any]] = []

    def fake(content: Any, style: Any, alpha: float = 1.0, **kw: Any) -> Image.Image:
        seen.append({"content": content, "style": style, "alpha": alpha, **kw})
        with Image.open(content) as im:
            w, h_ = im.size
        side = kw["content_size"]
        scale = side / min(w, h_)
        return Image.new("RGB", (round(w * scale), round(h_ * scale)), (128, 128, 128))

    monkeypatch.setattr(h, "stylize", fake)
    return seen


# -- inputs ---------------------------------------------------------------------------------------------
def test_an_upload_wins_over_the_sample_and_a_sample_is_used_without_one(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "mine.png")
    assert h.choose_content(str(photo), "chelsea") == photo
    assert h.choose_content(None, "chelsea") == samples.path("chelsea")
    with pytest.raises(InputError, match="no content photo"):
        h.choose_content(None, None)


def test_uploads_over_the_limit_are_refused_naming_the_file_and_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\0" * (2 * 2**20 + 1))
    with pytest.raises(InputError, match=r"big\.jpg is 2\.0 MB; uploads are limited to 2 MB"):
        h.check_upload(big, "content", max_mb=2)
    assert h.check_upload(big, "content", max_mb=3) == big
    with pytest.raises(InputError, match="missing"):
        h.check_upload(tmp_path / "gone.jpg", "style")


def test_styles_come_in_gallery_order_then_uploads(tmp_path: Path) -> None:
    mine = _photo(tmp_path / "mine.png")
    got = h.choose_styles([STYLES[2], STYLES[0]], [str(mine)])
    assert got == [samples.path(STYLES[0]), samples.path(STYLES[2]), mine]
    with pytest.raises(InputError, match="no style"):
        h.choose_styles([], None)
    with pytest.raises(InputError, match="unknown bundled painting"):
        h.choose_styles(["mona_lisa"], None)


def test_weights_are_parsed_one_per_style_or_left_to_the_library() -> None:
    assert h.parse_weights("0.7, 0.3", 2) == [0.7, 0.3]
    assert h.parse_weights("1 3", 2) == [1.0, 3.0]
    assert h.parse_weights("  ", 3) is None
    assert h.parse_weights(None, 1) is None
    with pytest.raises(InputError, match="numbers"):
        h.parse_weights("a, b", 2)
    with pytest.raises(InputError, match="1 style weight"):
        h.parse_weights("0.5", 2)


def test_a_gallery_click_picks_then_drops_a_painting() -> None:
    picked = h.toggle_style([], 1)
    assert picked == [STYLES[1]]
    picked = h.toggle_style(picked, 0)
    assert picked == [STYLES[0], STYLES[1]]
    assert h.toggle_style(picked, 1) == [STYLES[0]]
    with pytest.raises(InputError):
        h.toggle_style([], len(STYLES))


def test_the_style_summary_lists_what_will_be_mixed_in_weight_order() -> None:
    assert "No style" in h.styles_summary([], [])
    assert STYLES[0] in h.styles_summary([STYLES[0]], None)
    text = h.styles_summary([STYLES[1], STYLES[0]], ["/tmp/x/mine.png"])
    assert text.index(STYLES[0]) < text.index(STYLES[1]) < text.index("mine.png")
    assert "Mixing 3 styles" in text


def test_options_from_the_widgets_are_checked_and_translated() -> None:
    labels = list(h.LEVELS)
    colors = list(h.COLOR_MODES)
    opts = h.Options.from_page(0.5, "wct", labels[-1], colors[2], 320.0)
    assert opts == h.Options(0.5, "wct", ("relu4_1",), "luminance", 320)
    assert h.Options.from_page(1, "efdm", labels[0], colors[0], 512).levels[0] == "relu5_1"
    with pytest.raises(InputError, match="transform"):
        h.Options.from_page(1.0, "gatys", labels[0], colors[0], 512)
    with pytest.raises(InputError, match="between 64 and 1024"):
        h.Options.from_page(1.0, "adain", labels[0], colors[0], 4096)
    with pytest.raises(InputError, match="levels"):
        h.Options.from_page(1.0, "adain", "all of them", colors[0], 512)


# -- a run ----------------------------------------------------------------------------------------------
def test_preview_is_small_and_full_size_follows_the_slider(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    photo = _photo(tmp_path / "portrait.png", (300, 480))
    image, status = h.stylize_page(**_page_args(photo), preview=True)
    assert image is not None and min(image.size) == h.PREVIEW_SIZE
    assert calls[-1]["content_size"] == calls[-1]["style_size"] == h.PREVIEW_SIZE
    assert status.startswith(f"Preview: {image.width} × {image.height} px") and "Full size" in status
    image, status = h.stylize_page(**_page_args(photo, size=640.0), preview=False)
    assert image is not None and min(image.size) == 640
    assert image.width / image.height == pytest.approx(300 / 480, abs=1 / 640)
    assert status.startswith("Result: ")
    small = h.stylize_page(**_page_args(photo, size=128.0), preview=True)[0]
    assert small is not None and min(small.size) == 128  # a preview is never larger than the full size


def test_every_control_reaches_the_library(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    mine = _photo(tmp_path / "painting.png")
    levels = list(h.LEVELS)[1]
    h.stylize_page(
        **_page_args(
            style_names=[STYLES[0]],
            style_uploads=[str(mine)],
            weights_text="3, 1",
            alpha=0.25,
            transform="efdm",
            levels_label=levels,
            color_label=list(h.COLOR_MODES)[1],
        )
    )
    call = calls[-1]
    assert call["content"] == samples.path("chelsea")
    assert call["style"] == [samples.path(STYLES[0]), mine]
    assert call["style_weights"] == [3.0, 1.0]
    assert call["alpha"] == 0.25
    assert call["transform"] == "efdm"
    assert call["levels"] == h.LEVELS[levels]
    assert call["preserve_color"] == "coral"
    h.stylize_page(**_page_args())
    assert calls[-1]["style"] == samples.path("monet_etretat") and calls[-1]["style_weights"] is None


def test_progress_is_reported_from_start_to_done(calls: list[dict[str, Any]]) -> None:
    steps: list[tuple[float, str | None]] = []
    h.stylize_page(**_page_args(), progress=lambda f, desc=None: steps.append((f, desc)))
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(d and f"{h.PREVIEW_SIZE} px" in d for _, d in steps)


def test_a_real_stylisation_keeps_the_uploads_aspect_ratio(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "portrait.png", (90, 150))
    image, status = h.stylize_page(**_page_args(photo, size=64.0), preview=False)
    assert image is not None, status
    assert min(image.size) == 64
    assert image.width / image.height == pytest.approx(90 / 150, abs=1 / 64)
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 50  # a picture, not a blank


# -- errors -----------------------------------------------------------------------------------------------
def test_a_text_file_as_content_gives_the_named_error_with_the_upload_s_name(tmp_path: Path) -> None:
    upload_dir = tmp_path / "gradio" / "0123abcd"
    upload_dir.mkdir(parents=True)
    notes = upload_dir / "notes.txt"
    notes.write_text("not a photo")
    image, status = h.stylize_page(**_page_args(notes))
    assert image is None
    assert status.startswith("**ImageReadError**: not an image file")
    assert status.endswith("notes.txt") and str(upload_dir) not in status
    shown, line = h.content_preview(str(notes), "chelsea")
    assert shown is None and line.startswith("**ImageReadError**") and str(upload_dir) not in line


@pytest.mark.parametrize(
    ("over", "name", "needle"),
    [
        ({"style_names": []}, "InputError", "no style"),
        ({"weights_text": "1, 2"}, "InputError", "2 style weight(s) given for 1 style"),
        ({"style_names": STYLES[:2], "weights_text": "-1, 2"}, "InputError", ">= 0"),
        ({"alpha": 1.5}, "InputError", "alpha"),
    ],
)
def test_bad_input_is_a_named_message_never_a_traceback(over: dict[str, Any], name: str, needle: str) -> None:
    image, status = h.stylize_page(**_page_args(**over))
    assert image is None
    assert status.startswith(f"**{name}**: ") and needle in status
    assert "Traceback" not in status


def test_an_unexpected_failure_shows_a_neutral_line_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom in /srv/secret/path")

    monkeypatch.setattr(h, "stylize", broken)
    with caplog.at_level(logging.ERROR, logger=h.__name__):
        image, status = h.stylize_page(**_page_args())
    assert image is None
    assert status == "**Unexpected error** (RuntimeError): the server log has the details."
    assert "boom" in caplog.text and "Traceback" in caplog.text


def test_error_messages_name_the_error_and_hide_server_paths() -> None:
    exc = ImageReadError("cannot read /tmp/gradio/abc/holiday.jpg: truncated")
    assert (
        h.error_message(exc, ["/tmp/gradio/abc/holiday.jpg"])
        == "**ImageReadError**: cannot read holiday.jpg: truncated"
    )
    assert h.error_message(ValueError("bad\n  value")) == "**ValueError**: bad value"


def test_the_content_preview_shows_a_sample_or_an_upload(tmp_path: Path) -> None:
    image, line = h.content_preview(None, "astronaut")
    assert image is not None and image.size == (512, 512) and "astronaut.jpg" in line
    photo = _photo(tmp_path / "wide.png", (400, 100))
    image, line = h.content_preview(str(photo), "astronaut")
    assert image is not None and image.size == (400, 100) and "wide.png" in line


# -- optional: two styles by region -------------------------------------------------------------------------
needs_masks = pytest.mark.skipif(not h.HAS_MASKS, reason="adain_nst.stylize has no masks= here")


def _half_mask(path: Path, size: tuple[int, int]) -> Path:
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))  # white left half
    mask.save(path)
    return path


@needs_masks
def test_a_mask_gives_the_first_style_the_white_part_and_the_second_the_black(
    calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    mask = _half_mask(tmp_path / "mask.png", (96, 64))
    image, status = h.stylize_page(**_page_args(style_names=STYLES[:2], size=64.0), mask_upload=str(mask))
    assert image is not None, status
    call = calls[-1]
    assert call["style"] == [samples.path(STYLES[0]), samples.path(STYLES[1])]
    white, black = call["masks"]
    assert white[:, :48].min() == 1.0 and white[:, 48:].max() == 0.0
    np.testing.assert_array_equal(white + black, np.ones_like(white))
    assert call["style_weights"] is None and "2 styles by mask" in status
    h.stylize_page(**_page_args(size=64.0), mask_upload=str(mask))  # one style: the black part keeps the photo
    assert calls[-1]["style"] == [samples.path("monet_etretat")] and len(calls[-1]["masks"]) == 1


@needs_masks
@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"style_names": STYLES[:3]}, "two styles at most"),
        ({"style_names": STYLES[:2], "weights_text": "1, 1"}, "leave the style weights empty"),
    ],
)
def test_a_mask_with_the_wrong_styles_is_a_named_message(over: dict[str, Any], needle: str, tmp_path: Path) -> None:
    mask = _half_mask(tmp_path / "mask.png", (96, 64))
    image, status = h.stylize_page(**_page_args(**over), mask_upload=str(mask))
    assert image is None and status.startswith("**InputError**") and needle in status


@needs_masks
def test_a_text_file_as_the_mask_is_named_too(tmp_path: Path) -> None:
    notes = tmp_path / "mask.txt"
    notes.write_text("left half please")
    image, status = h.stylize_page(**_page_args(), mask_upload=str(notes))
    assert image is None and status.startswith("**ImageReadError**") and "mask.txt" in status


@needs_masks
def test_a_real_masked_run_paints_each_half_with_its_style(tmp_path: Path) -> None:
    with Image.open(samples.path("coffee")) as im:  # 600 x 400
        im.convert("RGB").resize((96, 64)).save(tmp_path / "coffee.png")
    photo = tmp_path / "coffee.png"
    mask = _half_mask(tmp_path / "mask.png", (96, 64))
    a, b = STYLES[0], STYLES[1]

    def run(styles: list[str], with_mask: bool) -> np.ndarray:
        image, status = h.stylize_page(
            **_page_args(photo, style_names=styles, size=64.0), mask_upload=str(mask) if with_mask else None
        )
        assert image is not None, status
        return np.asarray(image, dtype=np.float32)

    both, only_a, only_b = run([a, b], True), run([a], False), run([b], False)
    assert both.shape == only_a.shape == (64, 96, 3)
    left, right = np.s_[:, 8:36], np.s_[:, 60:88]  # away from the seam
    assert np.abs(both[left] - only_a[left]).mean() < np.abs(both[left] - only_b[left]).mean()
    assert np.abs(both[right] - only_b[right]).mean() < np.abs(both[right] - only_a[right]).mean()
