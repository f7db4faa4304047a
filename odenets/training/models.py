"""Building a registered model that fits a dataset's inputs and classes."""

from __future__ import annotations

import torch
from torch import nn

from ..registry import create_model, model_options

_LAYOUT = {1: "1-D signals (N, C, L)", 2: "images (N, C, H, W)"}


def build_model_for(
    dataset, name: str, model_kwargs: dict | None = None, memory: str | None = None
) -> nn.Module:
    """``create_model(name, ...)`` with ``in_chans``/``num_classes`` taken from the dataset.

    They are passed when the builder accepts them and ``model_kwargs`` does not set them;
    ``memory`` (a memory policy name) is passed when given. A model whose input layout
    does not fit the data (e.g. an image model on signals) is a ``ValueError``.
    """
    model_kwargs = dict(model_kwargs or {})
    accepted = model_options(name)  # unknown name: close matches
    for key, value in (("in_chans", dataset.in_chans), ("num_classes", dataset.num_classes)):
        if key not in model_kwargs and (accepted is None or key in accepted):
            model_kwargs[key] = value
    if memory is not None:
        model_kwargs["memory"] = memory
    model = create_model(name, **model_kwargs)
    model_ndim = getattr(model, "ndim", None)
    if model_ndim is not None and model_ndim != dataset.ndim:
        raise ValueError(
            f"model {name!r} takes {_LAYOUT.get(model_ndim, model_ndim)} but dataset "
            f"{dataset.name!r} holds {_LAYOUT.get(dataset.ndim, dataset.ndim)}; choose a model "
            f"for that layout (e.g. *_digits for images, *_signal for signals)"
        )
    check_fits(model, dataset, name)
    return model


@torch.no_grad()
def check_fits(model: nn.Module, dataset, name: str) -> None:
    """Run two examples through the model (eval mode) and check the logits' shape."""
    was_training = model.training
    model.eval()
    x = dataset.prepare(dataset.train.x[:2])
    try:
        out = model(x)
    except (ValueError, RuntimeError) as err:
        raise ValueError(
            f"model {name!r} does not fit dataset {dataset.name!r} (inputs "
            f"{tuple(dataset.sample_shape)}): {err}"
        ) from None
    finally:
        model.train(was_training)
    if out.shape != (len(x), dataset.num_classes):
        raise ValueError(
            f"model {name!r} gives outputs of shape {tuple(out.shape[1:])} per example; dataset "
            f"{dataset.name!r} needs {dataset.num_classes} class logits"
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
