"""Text classification: a transformers encoder with every head in one concatenated output.

``TextClassificationTask`` is the model type's side of a training run (see ``task.py``);
``TextClassifier`` is the trained model loaded for answers (the playground, deployments, and
``evaluate`` on a trained version).

The model is a plain ``AutoModelForSequenceClassification`` whose ``num_labels`` is the width
of the head layout (``heads.py``): its config carries ``id2label`` (``"head: class"`` per
output), ``automl_heads`` (the layout) and ``automl_max_length``, so
``AutoModelForSequenceClassification.from_pretrained(model_dir)`` loads it with nothing of
ours installed and gives the same logits. On a moderation base model the checkpoint's
classifier rows for its built-in heads are kept where they are and rows for the new heads are
appended, so before training the built-in outputs equal the checkpoint's.

Methods: ``last_layer`` trains the classification head (and the pooler, where the model has
one); ``lora`` adds peft LoRA adapters to the encoder and trains them with the head (and
pooler) in full; ``full`` trains every weight.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..base_models.entry import BaseModelEntry
from ..base_models.loading import load_sequence_classifier, load_tokenizer
from ..errors import InvalidInput
from ..evaluation import head_metrics
from .devices import Placement, seed_everything
from .heads import (
    HeadLayout,
    build_layout,
    builtin_heads_of,
    encode_targets,
    head_probabilities,
    multi_head_loss,
    prediction_table,
    predictions_for,
)
from .options import ResolvedOptions
from .task import Batch, Preparation, Task

TEXT_COLUMN = "text_data"
DEFAULT_TOKEN_LIMIT = 512
HEAD_ATTRIBUTES = ("classifier", "score")  # where transformers puts a classification head
EXTRA_HEAD_MODULES = ("pooler", "pre_classifier")  # trained with the head in last_layer / lora
LENGTH_CHUNK_BATCHES = 50  # rows are grouped by length within chunks of this many batches
EVAL_BATCH_ROWS = 64


# -- the classifier module ------------------------------------------------------------------


def _head_attribute(model: torch.nn.Module) -> str:
    for name in HEAD_ATTRIBUTES:
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return name
    raise InvalidInput(
        f"{type(model).__name__} has no classification head ('classifier' or 'score'); "
        "it cannot be trained as a text classifier"
    )


def _final_linear(model: torch.nn.Module) -> tuple[torch.nn.Module, str, torch.nn.Linear]:
    """The Linear that produces the logits: ``(parent, attribute, linear)``.

    BERT and DeBERTa-v2 use a Linear as ``classifier``; RoBERTa-style heads end in ``out_proj``;
    otherwise the last Linear inside the head module.
    """
    name = _head_attribute(model)
    head = getattr(model, name)
    if isinstance(head, torch.nn.Linear):
        return model, name, head
    out_proj = getattr(head, "out_proj", None)
    if isinstance(out_proj, torch.nn.Linear):
        return head, "out_proj", out_proj
    found = None
    for sub_name, module in head.named_modules():
        if isinstance(module, torch.nn.Linear):
            found = sub_name
    if found is None:
        raise InvalidInput(f"the classification head of {type(model).__name__} has no Linear layer")
    parent_name, _, attribute = found.rpartition(".")
    parent = head.get_submodule(parent_name) if parent_name else head
    return parent, attribute, getattr(parent, attribute)


def _head_module_names(model: torch.nn.Module) -> list[str]:
    """Names (in ``model``) of the classification head and the modules trained with it."""
    names = [_head_attribute(model)]
    for name, _module in model.named_modules():
        last = name.rpartition(".")[2]
        if last in EXTRA_HEAD_MODULES and not any(name.startswith(n + ".") for n in names):
            names.append(name)
    return names


def _init_rows(linear: torch.nn.Linear, rows: slice, std: float) -> None:
    with torch.no_grad():
        linear.weight[rows].normal_(mean=0.0, std=std)
        if linear.bias is not None:
            linear.bias[rows].zero_()


def _set_width(model: torch.nn.Module, width: int, keep: int, std: float) -> None:
    """Make the logits Linear ``width`` outputs wide; keep its first ``keep`` rows, init the rest."""
    parent, attribute, old = _final_linear(model)
    if old.out_features == width and keep == width:
        return
    new = torch.nn.Linear(
        old.in_features, width, bias=old.bias is not None, device=old.weight.device,
        dtype=old.weight.dtype,
    )
    keep = min(keep, old.out_features, width)
    _init_rows(new, slice(0, width), std)
    with torch.no_grad():
        if keep:
            new.weight[:keep].copy_(old.weight[:keep])
            if old.bias is not None:
                new.bias[:keep].copy_(old.bias[:keep])
    setattr(parent, attribute, new)


def _write_config(model: torch.nn.Module, layout: HeadLayout, max_length: int) -> None:
    config = model.config
    labels = layout.output_labels()
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.automl_heads = layout.to_json()
    config.automl_max_length = int(max_length)
    if hasattr(model, "num_labels"):
        model.num_labels = layout.width


def _max_length(entry: BaseModelEntry | None, tokenizer: Any, config: Any) -> int:
    limits = [(entry.token_limit if entry is not None else None) or DEFAULT_TOKEN_LIMIT]
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
        limits.append(tokenizer_limit)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        kind = str(getattr(config, "model_type", ""))
        if "roberta" in kind or kind == "camembert":  # positions start after the padding index
            positions -= int(getattr(config, "pad_token_id", 1) or 1) + 1
        limits.append(positions)
    return max(2, min(limits))


def _texts(table: pd.DataFrame) -> list[str]:
    if TEXT_COLUMN not in table.columns:
        raise InvalidInput(f"the rows have no {TEXT_COLUMN!r} column")
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            for v in table[TEXT_COLUMN].tolist()]


def _tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    if not texts:
        return []
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    return [list(ids) for ids in encoded["input_ids"]]


def _pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, : len(row)] = 1
    return input_ids, attention


def _pad_id(tokenizer: Any) -> int:
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if value is not None:
            return int(value)
    return 0


@torch.no_grad()
def _logits(
    model: torch.nn.Module,
    ids: Sequence[Sequence[int]],
    *,
    pad_id: int,
    device: torch.device,
    batch_rows: int = EVAL_BATCH_ROWS,
    autocast: tuple[bool, torch.dtype] = (False, torch.float32),
) -> np.ndarray:
    """``[rows, width]`` float32 logits in row order (batches of similar length, no grad)."""
    width = int(model.config.num_labels)
    out = np.zeros((len(ids), width), dtype=np.float32)
    if not len(ids):
        return out
    was_training = model.training
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    context = (
        (lambda: torch.autocast(device.type, dtype=autocast[1])) if autocast[0] else nullcontext
    )
    try:
        for start in range(0, len(order), batch_rows):
            chunk = order[start : start + batch_rows]
            input_ids, attention = _pad([ids[i] for i in chunk], pad_id)
            with context():
                logits = model(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device)
                ).logits
            out[chunk] = logits.float().cpu().numpy()
    finally:
        if was_training:
            model.train()
    return out


def _metrics(layout: HeadLayout, table: pd.DataFrame, logits: np.ndarray) -> dict[str, Any]:
    """Loss per labelled (row, head) pair and each labelled head's metrics (DESIGN §6)."""
    targets = encode_targets(layout, table)
    loss_sum, count = multi_head_loss(layout, torch.from_numpy(logits), targets)
    probs = head_probabilities(layout, logits)
    heads: dict[str, Any] = {}
    for head in layout:
        if head.name not in table.columns:
            continue  # a built-in head without data here: nothing to score it on
        truth = [v if isinstance(v, str) and v.strip() else None for v in table[head.name].tolist()]
        heads[head.name] = head_metrics(truth, probs[head.name], head.classes)
    return {
        "loss": float(loss_sum) / count if count else None,
        "heads": heads,
        "rows": int(len(table)),
    }


# -- the training task ----------------------------------------------------------------------


class TextClassificationTask(Task):
    """Fine-tune a text encoder on one or more label heads (see the module docstring)."""

    def __init__(
        self,
        options: ResolvedOptions,
        placement: Placement,
        *,
        heads: Mapping[str, Sequence[str]],
        **data: Any,
    ) -> None:
        super().__init__(options, placement, **data)
        self.user_heads = {h: list(c) for h, c in heads.items()}
        self.layout: HeadLayout | None = None
        self.tokenizer: Any = None
        self.max_length = DEFAULT_TOKEN_LIMIT
        self.ids: dict[str, list[list[int]]] = {}
        self.targets: dict[str, np.ndarray] = {}
        self.last_probabilities: dict[str, np.ndarray] | None = None
        self.last_split: str | None = None
        self._merged = False

    # -- model ---------------------------------------------------------------------------

    def _load_model(self) -> torch.nn.Module:
        if self.entry.is_moderation:
            model = load_sequence_classifier(self.entry, cache_dir=self.cache_dir, dtype=torch.float32)
            builtin = builtin_heads_of(model.config, self.entry)
            layout = build_layout(self.user_heads, builtin)
            old = _final_linear(model)[2].out_features
            keep = max((h.stop for h in builtin), default=0)
            if keep != old:
                raise InvalidInput(
                    f"base model {self.entry.name!r}: its classifier has {old} outputs but its "
                    f"built-in heads use {keep}"
                )
            _set_width(model, layout.width, keep, self._init_std(model))
        else:
            layout = build_layout(self.user_heads)
            model = load_sequence_classifier(
                self.entry, cache_dir=self.cache_dir, dtype=torch.float32,
                num_labels=layout.width, ignore_mismatched_sizes=True,
            )
            # Whatever head the checkpoint had means nothing for these heads: start afresh.
            _set_width(model, layout.width, 0, self._init_std(model))
        self.layout = layout
        return model

    @staticmethod
    def _init_std(model: torch.nn.Module) -> float:
        return float(getattr(model.config, "initializer_range", 0.02) or 0.02)

    def _apply_method(self, model: torch.nn.Module) -> torch.nn.Module:
        method = self.options.method
        head_modules = _head_module_names(model)
        if method == "full":
            for p in model.parameters():
                p.requires_grad_(True)
            return model
        if method == "last_layer":
            for p in model.parameters():
                p.requires_grad_(False)
            for name in head_modules:
                for p in model.get_submodule(name).parameters():
                    p.requires_grad_(True)
            return model
        if method == "lora":
            from peft import LoraConfig, get_peft_model

            inside_head = [
                name
                for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear)
                and any(name == h or name.startswith(h + ".") for h in head_modules)
            ]
            targets = self.options.lora_targets
            if isinstance(targets, str) and targets.lower() == "all-linear":
                targets = [
                    name for name, module in model.named_modules()
                    if isinstance(module, torch.nn.Linear) and name not in inside_head
                ]
                exclude = None
            else:
                exclude = inside_head or None
            config = LoraConfig(
                r=self.options.lora_r,
                lora_alpha=self.options.lora_alpha,
                lora_dropout=self.options.lora_dropout,
                target_modules=targets,
                exclude_modules=exclude,
                modules_to_save=head_modules,
            )
            try:
                return get_peft_model(model, config)
            except ValueError as error:
                raise InvalidInput(f"lora_targets: {error}") from None
        raise InvalidInput(f"unknown training method {method!r}")

    @property
    def base(self) -> torch.nn.Module:
        """The transformers model under a peft wrapper (the model itself otherwise)."""
        assert self.model is not None
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) and not self._merged else self.model

    # -- Task ----------------------------------------------------------------------------

    def prepare(self) -> Preparation:
        seed_everything(self.options.seed)
        self.tokenizer = load_tokenizer(self.entry, self.cache_dir)
        model = self._load_model()
        assert self.layout is not None
        self.max_length = _max_length(self.entry, self.tokenizer, model.config)
        _write_config(model, self.layout, self.max_length)
        model = self._apply_method(model)
        self.model = model.to(self.placement.device)
        self.model.train()

        invalid: list[dict[str, Any]] = []
        for split, table in self.tables.items():
            texts = _texts(table)
            if split == "train":
                bad = [i for i, t in enumerate(texts) if not t.strip()]
                if bad:
                    rows = table["row"].tolist() if "row" in table.columns else list(range(len(table)))
                    invalid = [{"row": rows[i], "reason": "the text is empty"} for i in bad]
                    table = table.drop(index=bad).reset_index(drop=True)
                    self.tables[split] = table
                    texts = _texts(table)
            self.ids[split] = _tokenize(self.tokenizer, texts, self.max_length)
            self.targets[split] = encode_targets(self.layout, table)

        train = self.tables["train"]
        counts: dict[str, dict[str, int]] = {}
        for h, head in enumerate(self.layout):
            column = self.targets["train"][:, h]
            counts[head.name] = {
                c: int((column == k).sum()) for k, c in enumerate(head.classes)
            } if head.name in train.columns else {}
        truncated = 0
        if "tokens" in train.columns:
            tokens = pd.to_numeric(train["tokens"], errors="coerce")
            truncated = int((tokens > self.max_length).sum())
        summary = {
            "class_counts": counts,
            "heads": self.layout.to_json(),
            "builtin_heads": [h.name for h in self.layout if h.builtin],
            "max_length": self.max_length,
            "truncated_rows": truncated,
            "unlabelled_rows": int((self.targets["train"] < 0).all(axis=1).sum())
            if len(self.layout) else 0,
        }
        return Preparation(rows=len(train) + len(invalid), invalid_rows=invalid, summary=summary)

    def train_batches(self, epoch: int) -> list[list[int]]:
        """Shuffled (seed, epoch) batches of row indices; similar lengths batched together."""
        targets = self.targets["train"]
        rows = np.flatnonzero((targets >= 0).any(axis=1)) if targets.size else np.zeros(0, int)
        rng = np.random.default_rng((self.options.seed, epoch))
        rows = rows[rng.permutation(len(rows))]
        size = self.options.batch_size
        lengths = np.array([len(self.ids["train"][i]) for i in rows], dtype=np.int64)
        batches: list[list[int]] = []
        chunk = size * LENGTH_CHUNK_BATCHES
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            part = part[np.argsort(lengths[start : start + chunk], kind="stable")]
            batches.extend(part[i : i + size].tolist() for i in range(0, len(part), size))
        order = rng.permutation(len(batches))
        return [batches[i] for i in order]

    def load_batch(self, spec: Sequence[int]) -> Batch:
        ids = [self.ids["train"][i] for i in spec]
        input_ids, attention = _pad(ids, _pad_id(self.tokenizer))
        targets = torch.from_numpy(self.targets["train"][list(spec)])
        device = self.placement.device
        return Batch(
            inputs={
                "input_ids": input_ids.to(device),
                "attention_mask": attention.to(device),
                "targets": targets.to(device),
            },
            count=int((targets >= 0).sum()),
            samples=len(spec),
            tokens=int(attention.sum()),
        )

    def loss_sum(self, inputs: dict[str, Any]) -> torch.Tensor:
        assert self.model is not None and self.layout is not None
        logits = self.model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        ).logits
        loss, _count = multi_head_loss(self.layout, logits, inputs["targets"])
        return loss

    def logits(self, split: str) -> np.ndarray:
        """``[rows, width]`` logits of a split's rows, in row order."""
        assert self.model is not None
        if split not in self.ids:
            raise InvalidInput(f"unknown split {split!r}; use train, validation or test")
        return _logits(
            self.model, self.ids[split], pad_id=_pad_id(self.tokenizer),
            device=self.placement.device, batch_rows=max(EVAL_BATCH_ROWS, self.options.batch_size),
            autocast=(self.placement.autocast, self.placement.dtype),
        )

    def evaluate(self, split: str) -> dict[str, Any]:
        if split not in ("validation", "test"):
            raise InvalidInput(f"evaluate: split must be validation or test, got {split!r}")
        assert self.layout is not None
        logits = self.logits(split)
        metrics = _metrics(self.layout, self.tables[split], logits)
        self.last_probabilities = head_probabilities(self.layout, logits)
        self.last_split = split
        return metrics

    def test_predictions(self) -> pd.DataFrame:
        """The test rows as the last ``evaluate("test")`` scored them (its probabilities, not a
        second pass), so they are the rows behind its confusion matrices."""
        if self.last_split != "test" or self.last_probabilities is None:
            raise RuntimeError("test_predictions: call evaluate('test') first")
        assert self.layout is not None
        table = self.tables["test"]
        rows = table["row"].tolist() if "row" in table.columns else list(range(len(table)))
        return prediction_table(
            self.layout, self.last_probabilities, self.targets["test"], rows=rows, inputs=_texts(table)
        )

    def save(self, model_dir: Path) -> dict[str, Any]:
        assert self.model is not None and self.layout is not None
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        model = self.model
        if self.options.method == "lora" and not self._merged:
            model.save_pretrained(model_dir / "adapter")
            model = model.merge_and_unload()  # in place: the LoRA weights fold into the Linears
            self.model = model
            self._merged = True
        _write_config(model, self.layout, self.max_length)
        model.save_pretrained(model_dir)
        self.tokenizer.save_pretrained(model_dir)
        return {
            "framework": "transformers",
            "kind": "text_classification",
            "heads": self.layout.to_json(),
            "max_length": self.max_length,
        }


# -- the trained model, for answers ----------------------------------------------------------


class TextClassifier:
    """A trained text classifier: ``predict(texts)`` gives every class of every head, scored."""

    def __init__(
        self, model: Any, tokenizer: Any, layout: HeadLayout, *, device: torch.device,
        max_length: int = DEFAULT_TOKEN_LIMIT,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.device = device
        self.max_length = max_length
        self.autocast = device.type == "cuda" and model.dtype != torch.float32

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], device: str | torch.device | None = None) -> "TextClassifier":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_dir = Path(model_dir)
        dev = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu"
        )
        dtype = torch.float32
        if dev.type == "cuda" and torch.cuda.is_bf16_supported():
            dtype = torch.bfloat16
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, dtype=dtype, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        saved = getattr(model.config, "automl_heads", None)
        if not saved:
            raise InvalidInput(f"{str(model_dir)!r} was not trained here: its config has no automl_heads")
        layout = HeadLayout.from_json(saved)
        max_length = int(getattr(model.config, "automl_max_length", None) or
                         _max_length(None, tokenizer, model.config))
        return cls(model.to(dev).eval(), tokenizer, layout, device=dev, max_length=max_length)

    @property
    def heads(self) -> dict[str, list[str]]:
        return {h.name: list(h.classes) for h in self.layout}

    def _inputs(self, batch: Sequence[str | Mapping[str, Any]]) -> list[str]:
        texts = []
        for i, item in enumerate(batch):
            text = item.get(TEXT_COLUMN) if isinstance(item, Mapping) else item
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput(f"item {i}: text_data must be a non-empty string")
            texts.append(text)
        return texts

    def logits(self, texts: Sequence[str | Mapping[str, Any]]) -> np.ndarray:
        """``[rows, width]`` raw outputs, in input order."""
        ids = _tokenize(self.tokenizer, self._inputs(texts), self.max_length)
        return _logits(
            self.model, ids, pad_id=_pad_id(self.tokenizer), device=self.device,
            autocast=(self.autocast, self.model.dtype),
        )

    def predict(
        self, texts: Sequence[str | Mapping[str, Any]], top_k: int | None = None
    ) -> list[dict[str, list[dict[str, Any]]]]:
        """For each text: ``{head: [{"class", "score"}, ...]}``, every class, best first."""
        logits = self.logits(texts)
        return predictions_for(self.layout, head_probabilities(self.layout, logits), top_k)

    def evaluate(self, snapshot: Any) -> dict[str, Any]:
        """The test metrics of ``train`` on every row of a snapshot (or a DataFrame of rows)."""
        if isinstance(snapshot, pd.DataFrame):
            table = snapshot
        else:
            from .run import SnapshotData

            table = SnapshotData.load(snapshot).rows
        table = table.reset_index(drop=True)
        ids = _tokenize(self.tokenizer, _texts(table), self.max_length)
        logits = _logits(
            self.model, ids, pad_id=_pad_id(self.tokenizer), device=self.device,
            autocast=(self.autocast, self.model.dtype),
        )
        return _metrics(self.layout, table, logits)


__all__ = ["TextClassificationTask", "TextClassifier"]
