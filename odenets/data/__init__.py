"""Datasets for training: images and signals as in-memory tensors with fixed splits."""

from .files import load_tensor_file
from .images import (
    DATASETS,
    ImageDataset,
    Split,
    get_dataset,
    is_file_dataset,
    list_datasets,
    stratified_split,
)
from .signals import load_waveforms

DATASETS.setdefault("waveforms", load_waveforms)  # synthetic 1-D signals, generated in code

__all__ = [
    "DATASETS",
    "ImageDataset",
    "Split",
    "get_dataset",
    "is_file_dataset",
    "list_datasets",
    "load_tensor_file",
    "stratified_split",
]
