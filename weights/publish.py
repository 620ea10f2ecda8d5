"""Publish a converted model folder to its Hugging Face Hub repository (maintainers only).

    HF_TOKEN=hf_... python weights/publish.py cd16x-recon out/cd16x-recon
    python weights/publish.py cd16x-recon out/cd16x-recon --dry-run     # stage and check only

Steps: load the folder with adain_nst (strict), check every file's sha256 against the
registry record (publishing is refused for files whose digest is not recorded yet: record
them first so that what is uploaded is what users will verify), stage the three files plus
the model card ``weights/cards/<name>.md`` as ``README.md`` in a temporary folder, and upload
it as one commit with ``HfApi.upload_folder``. The commit id printed at the end is the
``revision`` to pin in adain_nst/pretrained/registry.py. Needs a token with write access to the
organisation; never run by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import compare_with_registry

from adain_nst import AdaINModel
from adain_nst.pretrained.folder import MODEL_FILES
from adain_nst.pretrained.registry import ModelSpec, get_spec

ROOT = Path(__file__).resolve().parents[1]


def stage(spec: ModelSpec, folder: Path, staging: Path) -> Path:
    """Check ``folder`` against ``spec`` and copy it with the model card into ``staging``.

    Raises ``SystemExit`` with the reason when the folder is not exactly the registered model.
    """
    missing = [f.name for f in spec.files if f.sha256 is None]
    if missing:
        raise SystemExit(f"{spec.name}: no recorded sha256 for {missing}; convert, record, then publish")
    bad = compare_with_registry(folder, spec)
    if bad:
        raise SystemExit(f"{folder} is not the registered {spec.name}:\n  " + "\n  ".join(bad))
    model = AdaINModel.from_pretrained(folder)  # strict load: the folder must build the model
    if (model.config.encoder, model.config.decoder) != (spec.encoder, spec.decoder):
        raise SystemExit(
            f"{folder} builds encoder {model.config.encoder} and decoder {model.config.decoder}, "
            f"but the registry records {spec.encoder} and {spec.decoder} for {spec.name}"
        )
    card = ROOT / spec.card_path
    if not card.is_file():
        raise SystemExit(f"model card {card} is missing")
    for name in MODEL_FILES:
        shutil.copyfile(folder / name, staging / name)
    shutil.copyfile(card, staging / "README.md")
    return staging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="registry name, e.g. cd16x-recon")
    parser.add_argument("folder", type=Path, help="the save_pretrained folder made by a conversion script")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the stored login)")
    parser.add_argument("--message", default=None, help="commit message")
    parser.add_argument("--dry-run", action="store_true", help="check and stage only; upload nothing")
    args = parser.parse_args(argv)

    spec = get_spec(args.name)
    with tempfile.TemporaryDirectory(prefix=f"publish-{spec.name}-") as tmp:
        staging = stage(spec, args.folder, Path(tmp))
        print(f"staged {sorted(p.name for p in staging.iterdir())} for {spec.repo_id}")
        if args.dry_run:
            return 0
        from huggingface_hub import HfApi

        api = HfApi(token=args.token)
        api.create_repo(spec.repo_id, repo_type="model", exist_ok=True)
        info = api.upload_folder(
            repo_id=spec.repo_id,
            folder_path=staging,
            commit_message=args.message or f"{spec.name}: weights converted with adain-nst {spec.converted_with}",
        )
    print(f"published {spec.repo_id} at commit {info.oid}")
    print(f'pin it in adain_nst/pretrained/registry.py: revision="{info.oid}" for {spec.name}')
    return 0


if __name__ == "__main__":
    sys.exit(main())
