"""Reading inputs and writing outputs atomically (TIFF, zarr, PNG, npy)."""

from .images import (
    OutputArray,
    is_zarr_path,
    open_output,
    read_image,
    write_image,
)

__all__ = ["OutputArray", "is_zarr_path", "open_output", "read_image", "write_image"]
