"""Turning a registry entry into weights, a tokenizer or a model, offline where it can be.

Packaged and local models never touch the network (``local_files_only=True``). A packaged
GGUF file (SmolLM2) is dequantised once into a safetensors folder under the cache directory:
written to a temporary folder, then renamed, under a lock file, so neither a crash nor two
processes at once leave a half-written model behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BaseModelUnavailable, InvalidInput
from ..model_types import ModelType
from .entry import BaseModelEntry

if TYPE_CHECKING:  # pragma: no cover
    import torch

CACHE_ENV = "JUPYTER_AUTOML_CACHE_DIR"
STAMP_FILE = "jupyter-automl-source.json"
STAMP_FORMAT = 1
# EfficientNet-Lite was trained on TensorFlow's (x - 127) / 128 scaling.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_lock = threading.RLock()
_tokenizers: dict[tuple[str, str, str, str], Any] = {}


# -- where things are ------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$JUPYTER_AUTOML_CACHE_DIR``, else ``$XDG_CACHE_HOME/jupyter-automl`` (``~/.cache``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "jupyter-automl"


def converted_dir(entry: BaseModelEntry, cache_dir: str | Path | None = None) -> Path:
    """Where the converted copy of ``entry`` lives: ``<cache>/base-models/<name>/``."""
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return root / "base-models" / entry.name


def _install_hint(entry: BaseModelEntry) -> str:
    if entry.requirement:
        return f"pip install {entry.requirement}"
    package = entry.location.split("/", 1)[0]
    return f"pip install {package.replace('_', '-')}"


def package_file(entry: BaseModelEntry) -> Path:
    """The file or folder a ``package`` entry names, found without importing the package."""
    if entry.source != "package":
        raise InvalidInput(f"base model {entry.name!r} is not shipped in a package")
    package, _, inside = entry.location.strip("/").partition("/")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise BaseModelUnavailable(
            f"base model {entry.name!r} needs the Python package {package!r}, which is not "
            f"installed: {_install_hint(entry)}"
        )
    for base in locations:
        path = Path(base) / inside
        if path.exists():
            return path
    raise BaseModelUnavailable(
        f"base model {entry.name!r}: package {package!r} is installed but has no {inside!r}; "
        f"reinstall it: {_install_hint(entry)}"
    )


def _local_path(entry: BaseModelEntry) -> Path:
    path = Path(entry.location).expanduser()
    if not path.exists():
        raise BaseModelUnavailable(
            f"base model {entry.name!r}: no file or folder at {str(path)!r} "
            "(a local base model is a save_pretrained folder or a .gguf file)"
        )
    return path


def _gguf_in(path: Path) -> Path | None:
    """The GGUF file ``path`` is, or the only one in a folder without a config.json."""
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
    return None


def source_path(entry: BaseModelEntry) -> Path | str:
    """Where the entry's weights are as shipped (no conversion): a path, or the hub id."""
    if entry.source == "package":
        return package_file(entry)
    if entry.source == "local":
        return _local_path(entry)
    return entry.location


def resolve_path(entry: BaseModelEntry, cache_dir: str | Path | None = None) -> Path | str:
    """What ``from_pretrained`` (or the EfficientNet loader) reads for this entry.

    - ``package``: the folder or file inside site-packages; a GGUF file is converted once and
      the cached folder is returned.
    - ``local``: the folder (a GGUF file is converted and cached like a packaged one).
    - ``hub``: the hub id itself (a ``str``), for transformers to download or find in its cache.

    Raises ``BaseModelUnavailable`` when a package is not installed or a path is missing.
    """
    found = source_path(entry)
    if isinstance(found, str):
        return found
    gguf = _gguf_in(found)
    if gguf is not None:
        return ensure_converted(entry, cache_dir=cache_dir)
    return found


def is_available(entry: BaseModelEntry) -> bool | None:
    """Whether the weights are on this machine: ``None`` for hub models (depends on network)."""
    if entry.source == "hub":
        return None
    try:
        source_path(entry)
    except BaseModelUnavailable:
        return False
    if entry.framework == "efficientnet_lite":
        return importlib.util.find_spec("efficientnet_lite_pytorch") is not None
    return True


# -- GGUF conversion --------------------------------------------------------------------------


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (flock on POSIX, msvcrt on Windows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return
        import msvcrt  # pragma: no cover - Windows

        handle.seek(0)
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                break
            except OSError:
                continue
        try:
            yield
        finally:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


def _stamp(gguf: Path) -> dict[str, Any]:
    return {"format": STAMP_FORMAT, "source": gguf.name, "size": gguf.stat().st_size}


def _is_complete(folder: Path, stamp: dict[str, Any]) -> bool:
    try:
        recorded = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == stamp and (folder / "config.json").is_file()


def ensure_converted(entry: BaseModelEntry, cache_dir: str | Path | None = None) -> Path:
    """Dequantise the entry's GGUF file once into a bf16 safetensors folder with its tokenizer.

    Returns the cached folder. Later calls (in any process) return at once; a changed source
    file (another size or name) is converted again.
    """
    found = source_path(entry)
    gguf = _gguf_in(found) if isinstance(found, Path) else None
    if gguf is None:
        raise InvalidInput(f"base model {entry.name!r} is not a GGUF file")
    target = converted_dir(entry, cache_dir)
    stamp = _stamp(gguf)
    if _is_complete(target, stamp):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{entry.name}.lock"):
        if _is_complete(target, stamp):  # another process finished it while we waited
            return target
        # Holding the lock, no other conversion of this model runs: leftovers are from crashes.
        for stale in target.parent.glob(f".{entry.name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=target.parent))
        try:
            _convert_gguf(gguf, work)
            (work / STAMP_FILE).write_text(json.dumps(stamp), encoding="utf-8")
            os.chmod(work, 0o755)  # mkdtemp makes it private; the cache may be shared
            if target.exists():
                old = target.with_name(f".{entry.name}.old.tmp")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(work, target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(
            gguf.parent, gguf_file=gguf.name, local_files_only=True
        )
    except ImportError as error:
        raise BaseModelUnavailable(
            f"reading {gguf.name} needs the gguf package: pip install gguf ({error})"
        ) from error
    # A GGUF-loaded model keeps its quantizer and refuses save_pretrained; the weights are
    # already dequantised, so drop both.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


# -- tokenizers and models ----------------------------------------------------------------


def _from_pretrained_kwargs(entry: BaseModelEntry) -> dict[str, Any]:
    # Packaged and local models must never reach for a hub.
    return {} if entry.source == "hub" else {"local_files_only": True}


@contextlib.contextmanager
def _loading(entry: BaseModelEntry, what: str) -> Iterator[None]:
    """Turn loader failures into one clear ``BaseModelUnavailable``."""
    try:
        yield
    except BaseModelUnavailable:
        raise
    except (OSError, ValueError, ImportError, RuntimeError, KeyError) as error:
        if entry.source == "hub":
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
            hint = (
                "HF_HUB_OFFLINE is set and it is not in the Hugging Face cache"
                if offline
                else "it needs internet (or a filled Hugging Face cache) on first use"
            )
            message = (
                f"cannot load the {what} of base model {entry.name!r} from the Hugging Face hub "
                f"({entry.location}): {hint}. Download it where you have a network and register "
                f"the folder as a 'local' base model. ({type(error).__name__}: {error})"
            )
        else:
            message = (
                f"cannot load the {what} of base model {entry.name!r} from {entry.location}: "
                f"{type(error).__name__}: {error}"
            )
        raise BaseModelUnavailable(message) from error


def load_tokenizer(entry: BaseModelEntry, cache_dir: str | Path | None = None):
    """The entry's tokenizer, loaded once per process (share it; do not modify it).

    A causal LM's tokenizer always has a pad token (its EOS token when it has none).
    """
    if entry.model_types == (ModelType.IMAGE_CLASSIFICATION,) or entry.framework != "transformers":
        raise InvalidInput(f"base model {entry.name!r} is an image model and has no tokenizer")
    key = (entry.name, entry.source, entry.location, str(cache_dir or default_cache_dir()))
    with _lock:
        if key in _tokenizers:
            return _tokenizers[key]
    path = resolve_path(entry, cache_dir)
    from transformers import AutoTokenizer

    with _loading(entry, "tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(str(path), **_from_pretrained_kwargs(entry))
    if entry.is_llm and tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    with _lock:
        return _tokenizers.setdefault(key, tokenizer)


def clear_cache() -> None:
    """Forget the tokenizers loaded in this process (tests; a changed local folder)."""
    with _lock:
        _tokenizers.clear()


def _require(entry: BaseModelEntry, kinds: Sequence[ModelType], what: str) -> None:
    if not any(k in entry.model_types for k in kinds):
        have = ", ".join(k.value for k in entry.model_types)
        raise InvalidInput(f"base model {entry.name!r} is for {have}; it is not {what}")


def load_causal_lm(
    entry: BaseModelEntry,
    *,
    cache_dir: str | Path | None = None,
    dtype: "torch.dtype | str" = "auto",
    device: "str | torch.device | None" = None,
    **kwargs: Any,
):
    """An ``AutoModelForCausalLM`` for an LLM entry (``dtype="auto"``: as saved, bf16 for SmolLM2)."""
    _require(entry, (ModelType.LLM_TEXT, ModelType.LLM_CHAT), "an LLM")
    path = resolve_path(entry, cache_dir)
    from transformers import AutoModelForCausalLM

    with _loading(entry, "weights"):
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, **_from_pretrained_kwargs(entry), **kwargs
        )
    return model.to(device) if device is not None else model


def load_text_encoder(
    entry: BaseModelEntry,
    *,
    cache_dir: str | Path | None = None,
    dtype: "torch.dtype | str" = "auto",
    **kwargs: Any,
):
    """The bare encoder (``AutoModel``, no head) of a text-classification entry."""
    _require(entry, (ModelType.TEXT_CLASSIFICATION,), "a text encoder")
    path = resolve_path(entry, cache_dir)
    from transformers import AutoModel

    with _loading(entry, "weights"):
        return AutoModel.from_pretrained(
            str(path), dtype=dtype, **_from_pretrained_kwargs(entry), **kwargs
        )


def load_sequence_classifier(
    entry: BaseModelEntry,
    *,
    cache_dir: str | Path | None = None,
    dtype: "torch.dtype | str" = "auto",
    **kwargs: Any,
):
    """``AutoModelForSequenceClassification`` for a text entry; keeps a moderation model's head.

    Pass ``num_labels=...`` (and ``ignore_mismatched_sizes=True`` to replace an existing head).
    """
    _require(entry, (ModelType.TEXT_CLASSIFICATION,), "a text encoder")
    path = resolve_path(entry, cache_dir)
    from transformers import AutoModelForSequenceClassification

    with _loading(entry, "weights"):
        return AutoModelForSequenceClassification.from_pretrained(
            str(path), dtype=dtype, **_from_pretrained_kwargs(entry), **kwargs
        )


# -- images ---------------------------------------------------------------------------------


@dataclass
class ImageBackbone:
    """A pretrained image model reduced to features: ``model(pixel_values) -> [batch, feature_dim]``.

    ``preprocess`` turns PIL images into the normalised ``[batch, 3, image_size, image_size]``
    tensor the model expects. ``model`` is in eval mode; put it in train mode to fine-tune.
    """

    model: Any
    feature_dim: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def preprocess(self, images: Sequence[Any]) -> "torch.Tensor":
        import numpy as np
        import torch
        from PIL import Image

        size = (self.image_size, self.image_size)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        arrays = []
        for image in images:
            image = image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
            arrays.append((np.asarray(image, dtype=np.float32) / 255.0 - mean) / std)
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _efficientnet_features(entry: BaseModelEntry, weights: Path) -> ImageBackbone:
    import torch

    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise BaseModelUnavailable(
            f"base model {entry.name!r} needs the efficientnet-lite-pytorch package: "
            "pip install efficientnet-lite-pytorch==0.1.0"
        )
    from efficientnet_lite_pytorch import EfficientNet

    from .image_features import EfficientNetFeatures

    match = re.search(r"efficientnet-lite[0-4]", weights.name)
    if match is None:
        raise BaseModelUnavailable(
            f"base model {entry.name!r}: cannot tell which EfficientNet-Lite variant "
            f"{weights.name!r} is (its name must contain efficientnet-lite0 .. lite4)"
        )
    arch = match.group(0)
    with _loading(entry, "weights"):
        # from_name + a local state dict: the package's from_pretrained would download
        # from the internet when given no path, and prints as it loads.
        net = EfficientNet.from_name(arch, num_classes=1000)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)

    model = EfficientNetFeatures(net).eval()
    return ImageBackbone(
        model=model,
        feature_dim=net._fc.in_features,
        image_size=entry.image_size or EfficientNet.get_image_size(arch),
        mean=LITE_MEAN,
        std=LITE_STD,
        name=entry.name,
        extra={"architecture": arch, "imagenet_classifier": net._fc},
    )


def _transformers_features(entry: BaseModelEntry, path: Path | str) -> ImageBackbone:
    from transformers import AutoConfig, AutoModel

    from .image_features import PooledFeatures

    kwargs = _from_pretrained_kwargs(entry)
    with _loading(entry, "weights"):
        config = AutoConfig.from_pretrained(str(path), **kwargs)
        encoder, info = AutoModel.from_pretrained(str(path), output_loading_info=True, **kwargs)
        processor = _image_processor_config(path, kwargs)
    mean = tuple(processor.get("image_mean") or IMAGENET_MEAN)
    std = tuple(processor.get("image_std") or IMAGENET_STD)
    size = entry.image_size or getattr(config, "image_size", None) or 224
    if isinstance(size, (list, tuple)):
        size = int(size[0])
    dim = getattr(config, "hidden_size", None) or getattr(config, "hidden_sizes", [None])[-1]

    # A *ForImageClassification checkpoint has no weights for AutoModel's learned pooler.
    use_pooler = not any(k.startswith("pooler.") for k in info.get("missing_keys", ()))
    return ImageBackbone(
        model=PooledFeatures(encoder, use_pooler=use_pooler).eval(),
        feature_dim=int(dim),
        image_size=int(size),
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        name=entry.name,
    )


def _image_processor_config(path: Path | str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """image_mean / image_std from preprocessor_config.json, without the processor classes."""
    if isinstance(path, Path):
        file = path / "preprocessor_config.json"
        if not file.is_file():
            return {}
        return json.loads(file.read_text(encoding="utf-8"))
    from transformers.utils import cached_file

    try:
        file = cached_file(path, "preprocessor_config.json", **kwargs)
    except OSError:
        return {}
    return json.loads(Path(file).read_text(encoding="utf-8")) if file else {}


def load_image_backbone(
    entry: BaseModelEntry, *, cache_dir: str | Path | None = None
) -> ImageBackbone:
    """The feature extractor of an image-classification entry (EfficientNet-Lite or transformers)."""
    _require(entry, (ModelType.IMAGE_CLASSIFICATION,), "an image model")
    path = resolve_path(entry, cache_dir)
    if entry.framework == "efficientnet_lite":
        if not isinstance(path, Path):
            raise BaseModelUnavailable(
                f"base model {entry.name!r}: EfficientNet-Lite weights load from a file, "
                "not from the hub"
            )
        return _efficientnet_features(entry, path)
    return _transformers_features(entry, path)
