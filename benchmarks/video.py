"""Video: temporal stability and style strength of per-frame vs stabilised stylisation, frames/s, ONNX speed.

    python benchmarks/video.py [--data ../shared/data/eval] [--frames 12] [--out benchmarks/results/video]

1. Clips made at run time (never saved) by a virtual camera panning or zooming over eval photos
   (:func:`adain_nst.video.synthetic.camera_frames`), stylised with eval paintings by the default
   look (multi-level AdaIN 5-4-3-2-1), with ``stabilize="none" | "stats" | "flow"`` (flow blend
   weights 0.3 and 0.5). Per run: the warping
   error (:func:`adain_nst.video.warping_error`, DIS "medium" flow of the input) and the VGG-19
   style loss (:meth:`adain_nst.quality.Judge.vgg19`, mean over frames), and their ratios to
   per-frame. Acceptance: a stabilised warping error <= 0.6x per-frame on the pans, with the
   style loss within 10 %.
2. End-to-end frames/s of :func:`adain_nst.stylize_video` (decode, stylise, encode H.264) at 256
   and 512 px (shorter side) for each mode.
3. onnxruntime against torch on CPU at 512 x 512: the exported single-pass graph against
   ``model.stylize`` (the fast engine) and the reference modules.

Writes ``video.json`` and ``video.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import adain_nst
from adain_nst.bench.measure import machine_info
from adain_nst.image import to_tensor
from adain_nst.quality import Judge
from adain_nst.video import FrameStylizer, stylize_video, warping_error
from adain_nst.video.synthetic import camera_frames, write_clip

ALL = ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
CONFIGS = {"default (adain 5-4-3-2-1)": None}  # add "single pass (relu4_1)": ("relu4_1",) for the paper's
RUNS = [
    ("none", {}),
    ("stats", {"momentum": 0.9}),
    ("flow", {"momentum": 0.9, "blend": 0.3}),
    ("flow", {"momentum": 0.9, "blend": 0.5}),
]


def _clips(data: Path, frames: int, size: tuple[int, int]) -> list[dict[str, Any]]:
    photos = sorted((data / "content").glob("*.jpg"))
    styles = sorted((data / "style").glob("*.jpg"))
    picks = [
        (photos[3], styles[2], "pan", 2.5),
        (photos[6], styles[8], "pan", 1.3),
        (photos[9], styles[4], "zoom", 1.5),
    ]
    out = []
    for photo, style, motion, speed in picks:
        arr = camera_frames(photo, size=size, frames=frames, motion=motion, speed=speed)
        out.append({"name": f"{motion} {photo.stem}", "motion": motion, "frames": arr, "style": style})
    return out


def quality(judge: Judge, clips: list[dict[str, Any]], style_size: int) -> list[dict[str, Any]]:
    model = adain_nst.load_model()
    rows = []
    for clip in clips:
        style_t = to_tensor(clip["style"], "style", size=style_size)[0]
        frames = clip["frames"]
        content = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
        for config, levels in CONFIGS.items():
            base = None
            for mode, kw in RUNS:
                t = time.perf_counter()
                s = FrameStylizer(model, [style_t], levels=levels, style_weights=[1.0], stabilize=mode, **kw)
                out = np.concatenate([s(frames[i : i + 4]) for i in range(0, len(frames), 4)])
                seconds = time.perf_counter() - t
                err = warping_error(out, frames)
                o = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0
                style_loss = statistics.mean(
                    judge.measure(o[i : i + 1], content[i : i + 1], style_t).style_loss for i in range(len(out))
                )
                row = {
                    "clip": clip["name"],
                    "motion": clip["motion"],
                    "style": clip["style"].stem,
                    "config": config,
                    "mode": mode,
                    **kw,
                    "warping_error": err,
                    "style_loss": style_loss,
                    "seconds": round(seconds, 2),
                }
                if mode == "none":
                    base = row
                assert base is not None
                row["warp_ratio"] = err / base["warping_error"]
                row["style_ratio"] = style_loss / base["style_loss"]
                rows.append(row)
                print(
                    f"{clip['name']:<22} {config:<26} {mode:<5} {kw.get('blend', ''):<5} "
                    f"warp {err:.5f} ({row['warp_ratio']:.2f}x)  style {style_loss:.3f} ({row['style_ratio']:.3f}x)",
                    file=sys.stderr,
                )
    return rows


def speed(data: Path, frames: int) -> list[dict[str, Any]]:
    photo = sorted((data / "content").glob("*.jpg"))[3]
    style = sorted((data / "style").glob("*.jpg"))[2]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for side in (256, 512):
            size = (side * 16 // 9 // 2 * 2, side)
            clip = write_clip(Path(tmp) / f"clip{side}.mp4", camera_frames(photo, size=size, frames=frames), 25)
            for mode in ("none", "stats", "flow"):
                r = stylize_video(clip, style, Path(tmp) / f"out{side}{mode}.mp4", stabilize=mode, progress=False)
                rows.append({"side": side, "size": f"{size[0]}x{size[1]}", "mode": mode, "frames": r.frames,
                             "frames_per_second": r.frames_per_second, "dtype": r.dtype})  # fmt: skip
                print(f"{side} px {mode}: {r.frames_per_second:.2f} frames/s", file=sys.stderr)
    return rows


def onnx_speed(side: int, repeats: int) -> dict[str, Any]:
    import onnxruntime as ort

    from adain_nst.export import export_onnx
    from adain_nst.nn.reference import ReferenceAdaIN

    model = adain_nst.load_model().adain
    ref = ReferenceAdaIN(model.encoder, model.decoder, model.eps)
    content, style = torch.rand(1, 3, side, side), torch.rand(1, 3, side, side)
    with tempfile.TemporaryDirectory() as tmp:
        exported = export_onnx(Path(tmp) / "adain.onnx", runner=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(exported.path), opts, providers=["CPUExecutionProvider"])
    feeds = {"content": content.numpy(), "style": style.numpy(), "alpha": np.array(1.0, np.float32)}

    def timed(fn: Any) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    with torch.inference_mode():
        t_engine = timed(lambda: model.stylize(content, style))
        t_ref = timed(lambda: ref(content, style))
    t_ort = timed(lambda: session.run(None, feeds))
    diff = float(np.abs(session.run(None, feeds)[0] - model.stylize(content, style).numpy()).max())
    return {
        "side": side,
        "threads": torch.get_num_threads(),
        "seconds_onnxruntime": t_ort,
        "seconds_torch_engine": t_engine,
        "seconds_torch_reference": t_ref,
        "max_abs_diff_vs_engine": diff,
        "onnxruntime": ort.__version__,
        "exporter": exported.exporter,
    }


def _markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Video: stability, style strength, speed; ONNX speed",
        "",
        f"`python benchmarks/video.py` on {m['cpu']} ({m['logical_cpus']} logical CPUs, torch {m['torch']}, "
        f"{m['torch_threads']} threads), float32, commit {m.get('git_commit')}, {m['time_utc']}. "
        "**Run under contention**: the 2 cores were shared with a training job and other work, so "
        "absolute speeds are low and noisy; ratios within a row group ran back to back.",
        "",
        f"Clips: {result['frames']} frames of {result['size']} px made at run time by panning or zooming over eval "
        "photos (not saved). Warping error: mean squared RGB difference ([0, 1]) between each output frame and "
        "the previous output warped along the input's DIS flow, on non-occluded pixels (lower is steadier). "
        "Style loss: VGG-19 (ImageNet) judge, mean over frames (lower is stronger style).",
        "",
        "| clip | config | mode | blend | warping error | x per-frame | style loss | x per-frame |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["quality"]:
        lines.append(
            f"| {r['clip']} ({r['style']}) | {r['config']} | {r['mode']} | {r.get('blend', '')} | "
            f"{r['warping_error']:.5f} | {r['warp_ratio']:.2f} | {r['style_loss']:.3f} | {r['style_ratio']:.3f} |"
        )
    lines += ["", "## Frames/s of `stylize_video` (decode, stylise, encode), default look", ""]
    lines += ["| size | mode | frames/s |", "| --- | --- | --- |"]
    for r in result["speed"]:
        lines.append(f"| {r['size']} | {r['mode']} | {r['frames_per_second']:.2f} |")
    o = result.get("onnx")
    if o:
        lines += [
            "",
            f"## onnxruntime vs torch, AdaIN single pass, {o['side']} x {o['side']} px, {o['threads']} threads",
            "",
            "| runtime | seconds (median) |",
            "| --- | --- |",
            f"| onnxruntime {o['onnxruntime']} (graph from the {o['exporter']} exporter) | {o['seconds_onnxruntime']:.3f} |",  # noqa: E501
            f"| torch, `model.stylize` (fast engine) | {o['seconds_torch_engine']:.3f} |",
            f"| torch, reference modules (`ReferenceAdaIN`) | {o['seconds_torch_reference']:.3f} |",
            "",
            f"Largest difference onnxruntime vs engine: {o['max_abs_diff_vs_engine']:.1e}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/eval"), help="eval folder (content/, style/)")
    parser.add_argument("--frames", type=int, default=12, help="frames per clip (default 12)")
    parser.add_argument("--width", type=int, default=256, help="clip width, px (default 256)")
    parser.add_argument("--height", type=int, default=160, help="clip height, px (default 160)")
    parser.add_argument("--style-size", type=int, default=256, help="style shorter side, px (default 256)")
    parser.add_argument("--no-speed", action="store_true", help="skip the frames/s and ONNX timings")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/video"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    result: dict[str, Any] = {
        "machine": machine_info(),
        "frames": args.frames,
        "size": f"{args.width}x{args.height}",
    }
    clips = _clips(args.data, args.frames, (args.width, args.height))
    result["quality"] = quality(Judge.vgg19(), clips, args.style_size)
    if not args.no_speed:
        result["speed"] = speed(args.data, args.frames)
        result["onnx"] = onnx_speed(512, 5)
    else:
        result["speed"] = []
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "video.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    (args.out / "video.md").write_text(_markdown(result), encoding="utf-8")
    print(f"wrote {args.out / 'video.json'} and {args.out / 'video.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
