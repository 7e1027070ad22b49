"""Reading inputs and writing outputs atomically (TIFF, zarr, PNG, npy)."""

from .images import (
    OutputArray,
    is_our_zarr,
    is_zarr_path,
    open_output,
    read_image,
    write_image,
)
from .sinks import PathSink, StoreSink, StoreState, safe_name, unique_path

__all__ = ["OutputArray", "PathSink", "StoreSink", "StoreState", "is_our_zarr", "is_zarr_path",
           "open_output", "read_image", "safe_name", "unique_path", "write_image"]
