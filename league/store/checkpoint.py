"""Atomic file writes and pickle-free checkpoints of nested training state.

A checkpoint is a single safetensors file.  Every ``torch.Tensor`` and
``numpy.ndarray`` found in the state is stored as a tensor under a generated
key; everything else (dicts, lists, tuples, ints of any size, floats, bools,
``None`` and strings) is encoded into a JSON *skeleton* kept in the safetensors
metadata under ``"state"``.  Nothing is ever pickled, so loading a checkpoint
cannot execute code.

Skeleton encoding: JSON strings, bools, ``null``, floats and ints that fit in
a signed 64-bit integer are stored natively; JSON lists are Python lists;
every JSON object is a tag with a ``$``-prefixed key:

``{"$dict": {...}}``            dict whose keys are all ``str``
``{"$items": [[k, v], ...]}``   dict with other keys (e.g. optimizer ``int`` keys)
``{"$tuple": [...]}``           tuple
``{"$int": "0x..."}``           int that does not fit in a signed 64-bit integer
``{"$tensor": key}``            torch tensor (restored on CPU, detached)
``{"$ndarray": key, "dtype": s}``   numpy array (restored as numpy)
``{"$npscalar": key, "dtype": s}``  numpy scalar (restored as numpy scalar)

Dict and tuple subclasses (``OrderedDict``, named tuples) come back as plain
``dict`` / ``tuple``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "atomic_write_bytes",
    "load_checkpoint",
    "prepare_tensors_for_save",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "league-checkpoint/1"
"""Value of the ``format`` metadata entry written into every checkpoint."""

_BIG_INT = 2**63


class CheckpointError(RuntimeError):
    """Signal that a checkpoint file is missing, truncated or not a valid checkpoint."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably.

    The bytes go to a temporary file in the same directory, which is flushed,
    fsynced and then renamed over ``path`` with ``os.replace``; finally the
    directory itself is fsynced so the rename survives a crash.  Readers see
    either the old file or the complete new one, never a partial write.  The
    parent directory must exist.  The new file gets the usual ``0o666 & ~umask``
    permissions.
    """
    path = Path(path)
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise _naming(err, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError):  # a full disk: name the file that was not written
            raise _naming(err, path) from None
        raise
    _fsync_dir(directory)


def _naming(err: OSError, path: Path) -> OSError:
    """`err` as an OSError that names `path`, the file a write was meant for (a failed
    write names nothing, a failed open its temporary file)."""
    if err.filename == str(path):
        return err
    return OSError(err.errno, err.strerror or str(err), str(path))


def _fsync_dir(directory: Path) -> None:
    """Fsync a directory so that a rename inside it is durable (no-op where unsupported)."""
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        logger.debug("fsync of directory %s failed: %s", directory, exc)
    finally:
        os.close(dir_fd)


def prepare_tensors_for_save(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return CPU, detached, contiguous, non-aliasing copies/views suitable for safetensors.

    Tensors that share storage with an earlier tensor (e.g. tied weights) or
    that are views into a larger storage are cloned, because safetensors
    refuses to serialise shared or non-contiguous tensors.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {type(name).__name__}: {name!r}")
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"value for {name!r} is {type(tensor).__name__}, not a torch.Tensor")
        if tensor.layout != torch.strided:
            raise TypeError(f"tensor {name!r} has unsupported layout {tensor.layout}")
        t = tensor.detach().cpu().resolve_conj().resolve_neg()
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        whole = t.is_contiguous() and t.storage_offset() == 0 and storage.nbytes() == t.nbytes
        if not whole or ptr in seen:
            t = t.clone(memory_format=torch.contiguous_format)
            ptr = t.untyped_storage().data_ptr()
        seen.add(ptr)
        out[name] = t
    return out


# ---------------------------------------------------------------------------
# encoding


class _Encoder:
    """Flatten a nested state into a JSON skeleton plus a flat tensor dict."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def _add(self, tensor: torch.Tensor) -> str:
        key = f"t{len(self.tensors)}"
        self.tensors[key] = tensor
        return key

    def encode(self, obj: Any, where: str) -> Any:
        """Return the JSON-able skeleton for ``obj`` (``where`` names it in errors)."""
        if isinstance(obj, np.generic) and not isinstance(obj, (str, bytes)):
            arr = np.asarray(obj)
            return {"$npscalar": self._add(_ndarray_to_tensor(arr, where)), "dtype": arr.dtype.str}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            if -_BIG_INT <= obj < _BIG_INT:
                return int(obj)
            return {"$int": hex(obj)}
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, torch.Tensor):
            return {"$tensor": self._add(obj)}
        if isinstance(obj, np.ndarray):
            return {"$ndarray": self._add(_ndarray_to_tensor(obj, where)), "dtype": obj.dtype.str}
        if isinstance(obj, Mapping):
            if all(type(k) is str for k in obj):
                return {"$dict": {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}}
            return {
                "$items": [
                    [self._encode_key(k, where), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in obj.items()
                ]
            }
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        raise TypeError(f"cannot checkpoint {where}: unsupported type {type(obj).__qualname__}")

    def _encode_key(self, key: Any, where: str) -> Any:
        if isinstance(key, (torch.Tensor, np.ndarray)):
            raise TypeError(f"cannot checkpoint {where}: array/tensor used as a dict key")
        return self.encode(key, f"{where}<key {key!r}>")


def _ndarray_to_tensor(arr: np.ndarray, where: str) -> torch.Tensor:
    """Convert a numpy array to a tensor with identical values (native byte order)."""
    if arr.dtype.hasobject or arr.dtype.kind in "USVMmO":
        raise TypeError(f"cannot checkpoint {where}: numpy dtype {arr.dtype} is not numeric")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # np.ascontiguousarray would turn 0-d into 1-d
    try:
        return torch.from_numpy(arr)
    except TypeError as exc:
        raise TypeError(f"cannot checkpoint {where}: numpy dtype {arr.dtype}: {exc}") from exc


# ---------------------------------------------------------------------------
# decoding


class _Decoder:
    """Rebuild the nested state from a skeleton and the loaded tensors."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def decode(self, node: Any) -> Any:
        """Return the Python object described by skeleton ``node``."""
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            raise TypeError(f"unexpected skeleton node of type {type(node).__name__}")
        if "$dict" in node:
            return {k: self.decode(v) for k, v in node["$dict"].items()}
        if "$items" in node:
            return {self.decode(k): self.decode(v) for k, v in node["$items"]}
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$int" in node:
            return int(node["$int"], 16)
        if "$tensor" in node:
            return self._tensor(node["$tensor"])
        if "$ndarray" in node:
            return self._array(node["$ndarray"], node["dtype"])
        if "$npscalar" in node:
            return self._array(node["$npscalar"], node["dtype"])[()]
        raise ValueError(f"unknown skeleton tag(s) {sorted(node)}")

    def _tensor(self, key: str) -> torch.Tensor:
        try:
            return self.tensors[key]
        except KeyError:
            raise ValueError(f"skeleton references missing tensor {key!r}") from None

    def _array(self, key: str, dtype: str) -> np.ndarray:
        arr = self._tensor(key).numpy()
        return arr.astype(np.dtype(dtype), copy=False)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write nested ``state`` to ``path`` as a single safetensors file, atomically.

    Creates the parent directory if needed.  Raises ``TypeError`` naming the
    offending entry if ``state`` contains an unsupported type.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"checkpoint state must be a dict, got {type(state).__name__}")
    path = Path(path)
    encoder = _Encoder()
    skeleton = encoder.encode(state, "state")
    skeleton_json = json.dumps(skeleton, separators=(",", ":"), allow_nan=True)
    tensors = prepare_tensors_for_save(encoder.tensors)
    meta = {"state": skeleton_json, "format": CHECKPOINT_FORMAT}
    # The digest covers the state skeleton and the tensor bytes; the tensor section does
    # not depend on the metadata, so a second serialisation can carry it.
    body = _body(safetensors_save(tensors, metadata=meta))
    meta["sha256"] = _digest(skeleton_json, body)
    data = safetensors_save(tensors, metadata=meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    logger.debug("saved checkpoint %s (%d tensors, %d bytes)", path, len(tensors), len(data))


def _digest(skeleton_json: str, body: bytes) -> str:
    """The sha256 of a checkpoint's state skeleton and tensor bytes."""
    return hashlib.sha256(skeleton_json.encode() + body).hexdigest()


def _body(data: bytes) -> bytes:
    """The tensor bytes of a safetensors file (what follows its header)."""
    return data[8 + int.from_bytes(data[:8], "little") :]


def _read_metadata(data: bytes, path: Path) -> dict[str, str]:
    """Parse the safetensors header of ``data`` and return its ``__metadata__``."""
    if len(data) < 8:
        raise CheckpointError(f"checkpoint {path} is truncated ({len(data)} bytes)")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > len(data) - 8:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt: header claims {header_len} bytes, "
            f"file has {len(data)}"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} has a corrupt header: {exc}") from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or "state" not in meta:
        raise CheckpointError(
            f"{path} is not a league checkpoint (no 'state' entry in safetensors metadata)"
        )
    fmt = meta.get("format", CHECKPOINT_FORMAT)
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path} has unsupported format {fmt!r}")
    return meta


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` and return the exact state.

    Tensors come back on CPU.  Raises :class:`CheckpointError` naming ``path``
    if the file is missing, truncated or not a valid checkpoint.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    meta = _read_metadata(data, path)
    if "sha256" not in meta:
        logger.warning("checkpoint %s has no hash (written by an older version)", path)
    elif _digest(meta["state"], _body(data)) != meta["sha256"]:
        raise CheckpointError(
            f"checkpoint {path} fails its sha256 check: the file is corrupt (nothing was "
            "loaded; snapshots in the registry are intact)"
        )
    try:
        tensors = safetensors_load(data)
    except (SafetensorError, ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {exc}") from exc
    try:
        skeleton = json.loads(meta["state"])
        state = _Decoder(tensors).decode(skeleton)
    except (json.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path} has an invalid state skeleton: {exc}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not contain a dict state")
    return state
