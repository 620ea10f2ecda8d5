"""The case list and the keys that match results across runs."""

from __future__ import annotations

from dataclasses import asdict

from adain_nst.bench import ABLATIONS, GROUPS, REF, BenchConfig, Case, case_id, default_cases, result_key, select_cases
from adain_nst.engine import REFERENCE_LIKE, InferenceOptions


def test_default_cases_cover_every_group_with_unique_ids() -> None:
    cases = default_cases(BenchConfig())
    assert {c.group for c in cases} == set(GROUPS)
    assert len({c.id for c in cases}) == len(cases)
    # Engine cases ask for the library default (float32); low precision only in the dtype table.
    assert {c.dtype for c in cases if c.group != "dtype"} == {"float32"}
    assert {c.dtype for c in cases if c.group == "dtype"} == {"bfloat16"}
    assert all(c.dtype == "float32" and c.label == REF for c in cases if c.impl == "reference")


def test_quick_cases_stay_small_and_skip_compile() -> None:
    cases = default_cases(BenchConfig(quick=True, models=("cd16x",)))
    assert max(c.size for c in cases) <= 512
    assert "compile" not in {c.group for c in cases}
    assert {c.model for c in cases if c.group != "ablation"} == {"cd16x"}


def test_cuda_cases_add_float16_and_drop_cpu_only_ones() -> None:
    cases = default_cases(BenchConfig(devices=("cuda",), models=("full",)))
    assert {c.dtype for c in cases if c.group == "dtype"} == {"bfloat16", "float16"}
    assert not any(c.group == "retain" or "fuse_relu" in dict(c.options) for c in cases)


def test_the_reference_like_ablation_is_the_engines_reference_like_options() -> None:
    label, opts = ABLATIONS[0]
    assert label == "reference-like ops"
    assert InferenceOptions(**opts) == REFERENCE_LIKE
    assert InferenceOptions(**dict(ABLATIONS[6][1])) == InferenceOptions()  # "+winograd (= default)"
    for _, o in ABLATIONS:
        InferenceOptions(**o)  # every set is valid


def test_select_cases_filters_by_group_impl_and_style() -> None:
    cases = default_cases(BenchConfig(quick=True))
    picked = select_cases(cases, groups=("latency",), impl="engine", style="cached")
    assert picked and all(c.group == "latency" and c.impl == "engine" and c.cached_style for c in picked)
    assert select_cases(cases) == cases


def test_ids_and_result_keys() -> None:
    case = Case("latency", "full", "engine", "default", 256, cached_style=False)
    assert case.id == "latency:cpu/full/engine:default/256/b1/every/float32"
    # A report from before float32 became the default requested "auto" and ran float32.
    old = {"case": {**asdict(case), "dtype": "auto"}, "dtype": "float32"}
    assert case_id(old["case"]).endswith("/auto")
    assert result_key(old) == result_key({"case": asdict(case), "dtype": "float32"}) == case.id
    assert result_key({"case": asdict(case), "dtype": None}) == case.id  # did not run: the requested one
