"""Strict loading of a state dict into a module, with one message for every mismatch."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigError


def load_strict(module: nn.Module, state_dict: dict[str, Tensor], what: str) -> None:
    """Load ``state_dict`` into ``module`` (eval mode, frozen) or raise :class:`ConfigError`.

    The message names missing and unexpected keys and shape mismatches, and ``what``.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    bad_shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or bad_shapes:
        raise ConfigError(
            f"{what} does not match the architecture: missing={missing[:5]} "
            f"unexpected={unexpected[:5]} shapes={bad_shapes[:3]}"
        )
    module.load_state_dict(state_dict, strict=True)
    module.eval().requires_grad_(False)
