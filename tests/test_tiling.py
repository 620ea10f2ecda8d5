"""Planning of tiled stylisation (adain_nst.tiling): budgets, grids, halos, the memory model."""

from __future__ import annotations

import math

import pytest
import torch

import adain_nst
from adain_nst import InputError, MemoryBudgetError, pipeline
from adain_nst.architecture import decoder_ops, encoder_ops, receptive_field
from adain_nst.tiling import (
    LevelPlan,
    fixed_bytes,
    parse_memory,
    plan_tiles,
    tile_grid,
)

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def family() -> adain_nst.MultiLevelModel:
    return adain_nst.load_model()  # the bundled cd16x family: its real layer plan


@pytest.fixture(scope="module")
def levels(family: adain_nst.MultiLevelModel) -> tuple[LevelPlan, ...]:
    return pipeline.level_plans(family.cascade())


# -- budgets --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2GB", 2 * 10**9),
        ("2GiB", 2**31),
        ("2 gib", 2**31),
        ("512MB", 512 * 10**6),
        ("1.5GB", 1_500_000_000),
        ("64KiB", 65536),
        ("1000", 1000),
        (123_456, 123_456),
    ],
)
def test_memory_amounts_are_read_with_decimal_and_binary_units(value: int | str, expected: int) -> None:
    assert parse_memory(value) == expected


@pytest.mark.parametrize("value", ["2 GX", "GB", "", "-1GB", "0", 0, -5, True, 1.5, None, "2e9"])
def test_bad_memory_amounts_are_refused_by_name(value: object) -> None:
    with pytest.raises(InputError, match="max_memory"):
        parse_memory(value)  # type: ignore[arg-type]


# -- the grid -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("h", "w", "tile", "multiple", "halo"), [(100, 130, 32, 8, 20), (65, 40, 16, 16, 48), (17, 300, 64, 1, 3)]
)
def test_tiles_partition_the_padded_image_and_windows_hold_the_halo(
    h: int, w: int, tile: int, multiple: int, halo: int
) -> None:
    ph, pw = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    tiles = tile_grid(h, w, tile, multiple, halo)
    covered = torch.zeros(ph, pw, dtype=torch.int32)
    sizes = {(t.window.height, t.window.width) for t in tiles}
    assert len(sizes) == 1  # one window size: the same memory tile after tile
    for t in tiles:
        c, win = t.core, t.window
        covered[c.y0 : c.y1, c.x0 : c.x1] += 1
        assert c.height <= -(-tile // multiple) * multiple and c.width <= -(-tile // multiple) * multiple
        assert all(v % multiple == 0 for v in (c.y0, c.y1, c.x0, c.x1, win.y0, win.y1, win.x0, win.x1))
        assert win.y0 >= 0 and win.y1 <= ph and win.x0 >= 0 and win.x1 <= pw
        # at least `halo` px of context on every side that is not the image's border
        assert win.y0 <= max(c.y0 - halo, 0) and win.y1 >= min(c.y1 + halo, ph)
        assert win.x0 <= max(c.x0 - halo, 0) and win.x1 >= min(c.x1 + halo, pw)
    assert bool((covered == 1).all())
    cores_h = sorted({t.core.height for t in tiles})
    assert cores_h[-1] - cores_h[0] <= multiple  # near-equal: no sliver at the edge


def test_halos_come_from_the_receptive_field(family: adain_nst.MultiLevelModel, levels: tuple[LevelPlan, ...]) -> None:
    for lvl, pair in zip(levels, family.cascade().pairs, strict=True):
        enc = encoder_ops(pair.encoder.config, upto=pair.level)
        dec = decoder_ops(pair.decoder.config)
        s = pair.stride
        assert lvl.stride == s and lvl.channels == pair.decoder.in_channels
        assert lvl.halo == -(-math.ceil(receptive_field(enc + dec) / 2) // s) * s
        assert lvl.stats_halo == -(-math.ceil(receptive_field(enc) / 2) // s) * s
        assert lvl.decoder_halo % s == 0 and lvl.decoder_halo <= lvl.halo
    deepest = levels[0]
    assert (deepest.level, deepest.halo, deepest.stats_halo) == ("relu5_1", 160, 80)  # rf 296 and 156 px


# -- plans ----------------------------------------------------------------------------------------------
def test_a_budget_is_met_and_more_memory_buys_cheaper_tiles(levels: tuple[LevelPlan, ...]) -> None:
    costs = []
    for budget in (400 * 10**6, 10**9, 3 * 10**9):
        plan = plan_tiles(levels, 3000, 4000, budget=budget)
        assert plan.peak <= budget
        assert plan.fixed >= fixed_bytes(3000, 4000, 5, buffer=plan.buffer)
        costs.append(sum(t.cost for t in plan.tilings))
    assert costs[0] > costs[1] > costs[2]


def test_a_budget_below_the_smallest_tile_names_the_minimum(levels: tuple[LevelPlan, ...]) -> None:
    with pytest.raises(MemoryBudgetError, match=r"max_memory=50\.0 MB is below the minimum of ([\d.]+) MB") as info:
        plan_tiles(levels, 3000, 4000, budget=50 * 10**6)
    assert isinstance(info.value, InputError)  # a user error: exit 2 on the CLI
    minimum = float(str(info.value).split("minimum of ")[1].split(" MB")[0]) * 1e6
    plan = plan_tiles(levels, 3000, 4000, budget=int(minimum) + 10**5)  # the stated minimum works
    assert plan.peak <= minimum + 10**5
    auto = plan_tiles(levels, 3000, 4000, budget=50 * 10**6, strict=False)  # automatic: run anyway
    assert auto.peak > 50 * 10**6


def test_float16_intermediates_only_when_they_buy_much_cheaper_tiles(levels: tuple[LevelPlan, ...]) -> None:
    roomy = plan_tiles(levels, 2000, 3000, budget=4 * 10**9)
    assert roomy.buffer == "float32"
    tight = plan_tiles(levels, 6000, 8000, budget=2 * 10**9)  # the 48 MP in 2 GB
    assert tight.buffer == "float16" and tight.peak <= 2 * 10**9
    single = plan_tiles(levels[1:2], 6000, 8000, budget=2 * 10**9)  # one level: no intermediates
    assert single.buffer == "float32"


def test_explicit_tiles_and_cache_modes(levels: tuple[LevelPlan, ...]) -> None:
    plan = plan_tiles(levels, 500, 700, tile=100, cache=False)
    assert [t.tile for t in plan.tilings] == [112, 104, 100, 100, 100]  # rounded up to each stride
    assert not any(t.cached for t in plan.tilings)
    assert plan.halo(0) == 160 and plan.halo(0, statistics=True) == 80
    cached = plan_tiles(levels, 500, 700, tile=100, cache=True)
    assert all(t.cached for t in cached.tilings) and cached.halo(0) == levels[0].decoder_halo
    assert plan.count() == sum(2 * len(plan.tiles(i)) for i in range(5))
    with pytest.raises(MemoryBudgetError, match="tiles of 100 px"):
        plan_tiles(levels, 500, 700, tile=100, budget=10**6)


def test_whole_calls_until_the_budget_is_exceeded(family: adain_nst.MultiLevelModel) -> None:
    cascade = family.cascade()
    need = pipeline.estimate_memory(cascade, 1000, 1500)
    assert pipeline.plan_tiling(cascade, 1000, 1500, CPU, max_memory=need) is None
    plan = pipeline.plan_tiling(cascade, 1000, 1500, CPU, max_memory=need // 3)
    assert plan is not None and plan.peak <= need // 3
    assert pipeline.plan_tiling(cascade, 1000, 1500, CPU, tile_size=256) is not None


def test_automatic_tiling_above_the_available_memory_says_so(
    family: adain_nst.MultiLevelModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    cascade = family.cascade()
    monkeypatch.setattr(pipeline, "available_memory", lambda device: 10**9)
    assert pipeline.plan_tiling(cascade, 1000, 1500, CPU) is None  # fits: whole
    with pytest.warns(UserWarning, match=r"6000x4000 px content needs about 12\.3 GB .* tiling it \(5 levels in"):
        plan = pipeline.plan_tiling(cascade, 4000, 6000, CPU)
    assert plan is not None and plan.peak <= 0.8 * 10**9
    monkeypatch.setattr(pipeline, "available_memory", lambda device: None)  # unknown: whole
    assert pipeline.plan_tiling(cascade, 4000, 6000, CPU) is None


def test_the_device_budget_leaves_host_buffers_out(levels: tuple[LevelPlan, ...]) -> None:
    host = plan_tiles(levels, 4000, 6000, budget=2 * 10**9)
    device = plan_tiles(levels, 4000, 6000, budget=2 * 10**9, host=False)  # CUDA: buffers in host RAM
    assert device.fixed == 0 and host.fixed > 0
    assert sum(t.cost for t in device.tilings) <= sum(t.cost for t in host.tilings)
