"""Dataset job planning: seeded assignment, collision-free names, size-bucketed batches, sharding."""

from __future__ import annotations

import pytest

from adain_nst import InputError
from adain_nst.dataset import assign_styles, make_batches, output_name, shard
from adain_nst.dataset.plan import check_format, plan_items

CONTENTS = [f"dir{i % 3}/img{i}.jpg" for i in range(20)]
SIZES = [(64 + 8 * (i % 2), 48) for i in range(20)]
STYLES = [f"s{j}.jpg" for j in range(7)]


def _plan(contents=CONTENTS, sizes=SIZES, **kw):
    options = dict(per_image=2, seed=3, fmt=None, content_size=None)
    options.update(kw)
    return plan_items(contents, sizes, STYLES, **options)


def test_assignment_depends_only_on_seed_and_path() -> None:
    forward = {(it.content, it.index): it.style for it in _plan()}
    backward = {(it.content, it.index): it.style for it in _plan(CONTENTS[::-1], SIZES[::-1])}
    assert forward == backward  # listing order does not matter
    assert assign_styles(3, "dir0/img0.jpg", 7, 2) == assign_styles(3, "dir0/img0.jpg", 7, 2)
    other_seed = {(it.content, it.index): it.style for it in _plan(seed=4)}
    assert other_seed != forward
    for rel in CONTENTS:  # the N styles of an image are distinct
        picks = assign_styles(3, rel, 7, 5)
        assert len(set(picks)) == 5 and all(0 <= p < 7 for p in picks)
    used = {it.style for it in _plan(per_image=1)}
    assert len(used) >= 5  # spread over the styles, not one style for all
    with pytest.raises(InputError, match="exceeds the 7 style"):
        assign_styles(0, "x.jpg", 7, 8)


def test_names_keep_the_tree_and_never_collide() -> None:
    assert output_name("a/b/pic.jpg", 0, 1, None) == "a/b/pic.jpg"
    assert output_name("a/b/pic.jpg", 2, 3, None) == "a/b/pic_s2.jpg"
    assert output_name("pic.jpeg", 0, 1, "png") == "pic.png"
    names = [it.output for it in _plan(per_image=3)]
    assert len(set(names)) == len(names) == 60
    # pic.jpg and pic.png kept in their formats are distinct; converted to one format they would collide
    both = ["f/pic.jpg", "f/pic.png"]
    assert len({it.output for it in _plan(both, SIZES[:2], per_image=1)}) == 2
    with pytest.raises(InputError, match=r"f/pic\.jpg and f/pic\.png would both be written as f/pic\.png"):
        _plan(both, SIZES[:2], per_image=1, fmt="png")
    # an input named like another's output (pic_s0.jpg) still gets its own names
    tricky = ["pic.jpg", "pic_s0.jpg"]
    outs = [it.output for it in _plan(tricky, SIZES[:2], per_image=2)]
    assert len(set(outs)) == 4
    assert check_format("JPEG") == "jpg" and check_format(None) is None
    with pytest.raises(InputError, match="unknown output format 'gif'"):
        check_format("gif")


def test_batches_are_one_size_and_independent_of_order() -> None:
    items = _plan(content_size=None)
    batches = make_batches(items, 4)
    assert all(len({it.size for it in b.items}) == 1 for b in batches)
    assert all(len(b.items) <= 4 for b in batches)
    assert sorted(it.output for b in batches for it in b.items) == sorted(it.output for it in items)
    shuffled = make_batches(list(reversed(items)), 4)
    assert [[it.output for it in b.items] for b in batches] == [[it.output for it in b.items] for b in shuffled]
    assert [b.number for b in batches] == list(range(len(batches)))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_cover_every_batch_once(world: int) -> None:
    batches = make_batches(_plan(), 3)
    parts = [shard(batches, r, world) for r in range(world)]
    numbers = sorted(b.number for p in parts for b in p)
    assert numbers == [b.number for b in batches]
    with pytest.raises(InputError, match="rank 3 is outside a world of 3"):
        shard(batches, 3, 3)


def test_content_size_sets_the_bucket() -> None:
    items = plan_items(["a.jpg"], [(200, 100)], STYLES, per_image=1, seed=0, fmt=None, content_size=50)
    assert items[0].size == (50, 100)  # (H, W): the shorter side is 50 px
