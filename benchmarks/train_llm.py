"""LLM LoRA fine-tuning throughput: this engine against a plain transformers Trainer + PEFT script.

Both train the same model on the same rows (the shipped chat example, rendered with the same
chat template and completion-only labels), one epoch, same batch size, learning rate, LoRA
settings and sequence limit. Each runs in its own process so peak memory is its own. Prints
real (non-padding) tokens/s, samples/s, peak memory, the final training loss and the ratio.

    python benchmarks/train_llm.py                         # packaged SmolLM2-135M on this machine
    python benchmarks/train_llm.py --shape qwen2.5-0.5b    # random weights, that shape (GPU)

``--shape`` builds the model from a config (throughput does not depend on the weights), with
SmolLM2's tokenizer when it is installed, else the tiny test tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True),
    "smollm2-360m": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                         num_attention_heads=15, num_key_value_heads=5, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
}


def _tokenizer_dir(work: Path) -> Path:
    from jupyter_automl.base_models.builtin import SMOLLM2_135M
    from jupyter_automl.base_models.loading import is_available, resolve_path
    from jupyter_automl.base_models.tiny import build_tiny_causal_lm

    if is_available(SMOLLM2_135M):
        return Path(resolve_path(SMOLLM2_135M))
    return build_tiny_causal_lm(work / "tiny")


def build_model(args: argparse.Namespace, work: Path) -> Path:
    """A save_pretrained folder: the packaged SmolLM2, or a config-built model of a shape."""
    from jupyter_automl.base_models.builtin import SMOLLM2_135M
    from jupyter_automl.base_models.loading import resolve_path

    if args.shape is None:
        return Path(resolve_path(SMOLLM2_135M))
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_dir(work))
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=8192,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, **SHAPES[args.shape])
    torch.manual_seed(0)
    out = work / args.shape
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def example_rows(rows: int):
    import pandas as pd

    from jupyter_automl.datasets.examples import example_path
    from jupyter_automl.model_types import ModelType

    table = pd.read_csv(example_path(ModelType.LLM_CHAT), dtype=str, keep_default_na=False).head(rows)
    table.insert(0, "row", range(2, len(table) + 2))
    table["tokens"] = 0
    return table


def run_engine(args: argparse.Namespace, model_dir: Path, work: Path) -> dict:
    from jupyter_automl.base_models.entry import BaseModelEntry
    from jupyter_automl.datasets.snapshots import freeze
    from jupyter_automl.model_types import ModelType
    from jupyter_automl.training import Callback, train

    entry = BaseModelEntry.from_dict({"name": "bench", "model_types": ["llm_chat"],
                                      "source": "local", "location": str(model_dir)})
    snapshot = freeze(example_rows(args.rows), model_type=ModelType.LLM_CHAT, root=work / "snapshots")
    marks: dict = {}

    class Clock(Callback):
        def on_train_begin(self, state):
            marks["start"] = time.perf_counter()

        def on_step_end(self, state):
            marks["end"], marks["loss"] = time.perf_counter(), state.loss

    options = {"method": "lora", "max_epochs": 1, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate, "lora_r": 16, "lora_alpha": 32,
               "max_tokens": args.max_tokens, "validation_percent": 0, "batching": args.batching,
               "warmup_ratio": 0.0}
    result = train(snapshot.path, entry, options, out_dir=work / "version", test=5, callbacks=[Clock()])
    summary = result.metrics["data"]["train"]
    seconds = marks["end"] - marks["start"]
    return {"seconds": seconds, "tokens": summary["tokens"], "samples": summary["examples"],
            "loss": marks["loss"], "padding_waste": result.metrics["data"]["padding_waste"]}


def run_plain(args: argparse.Namespace, model_dir: Path, work: Path) -> dict:
    """What a user would write: Trainer + PEFT, pad to the longest row of each batch."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq,
                              Trainer, TrainingArguments)

    from jupyter_automl.training.llm_data import encode_rows

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    table = example_rows(args.rows)
    train_rows = table.sample(frac=0.95, random_state=args.seed).sort_index()
    encoded = encode_rows(train_rows, tokenizer, chat=True, max_tokens=args.max_tokens).examples
    dataset = [{"input_ids": e.input_ids, "labels": e.labels, "attention_mask": [1] * len(e.input_ids)}
               for e in encoded]
    cuda = torch.cuda.is_available()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if cuda else torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    arguments = TrainingArguments(
        output_dir=str(work / "plain"), per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate, num_train_epochs=1, logging_steps=1, save_strategy="no",
        report_to=[], bf16=cuda, seed=args.seed, disable_tqdm=True, dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset,
                      data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest"))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    return {"seconds": seconds, "tokens": sum(len(e.input_ids) for e in encoded),
            "samples": len(encoded), "loss": losses[-1] if losses else None, "padding_waste": None}


def child(args: argparse.Namespace) -> None:
    import torch

    work = Path(args.work)
    model_dir = Path(args.model_dir)
    run = run_engine if args.variant == "engine" else run_plain
    out = run(args, model_dir, work / args.variant)
    if torch.cuda.is_available():
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    else:
        out["peak_memory_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), help="config-built model of this shape")
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--batching", choices=["grouped", "packed"], default="grouped")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variant", choices=["engine", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.variant:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_model(args, work)
        results = {}
        for variant in ("plain", "engine"):
            command = [sys.executable, __file__, *sys.argv[1:], "--variant", variant,
                       "--work", str(work), "--model-dir", str(model_dir)]
            done = subprocess.run(command, capture_output=True, text=True)
            line = next((l for l in done.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"{variant} run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            results[variant] = json.loads(line[len("RESULT "):])
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"model: {args.shape or 'SmolLM2-135M-Instruct (packaged)'}, LoRA r16 all-linear, "
          f"{args.rows} chat example rows, batch {args.batch_size}, max_tokens {args.max_tokens}, "
          f"batching {args.batching}, 1 epoch, {device}\n")
    print("| run | seconds | real tokens/s | samples/s | peak memory GB | last train loss | padding |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        label = "plain Trainer + PEFT" if name == "plain" else "jupyter-automl engine"
        waste = f"{r['padding_waste']:.1%}" if r["padding_waste"] is not None else ""
        loss = f"{r['loss']:.4f}" if r["loss"] is not None else ""
        print(f"| {label} | {r['seconds']:.1f} | {r['tokens'] / r['seconds']:,.0f} | "
              f"{r['samples'] / r['seconds']:.2f} | {r['peak_memory_gb']:.2f} | {loss} | {waste} |")
    ratio = (results["engine"]["tokens"] / results["engine"]["seconds"]) / (
        results["plain"]["tokens"] / results["plain"]["seconds"])
    print(f"\nratio engine / plain (real tokens/s): {ratio:.2f}x  (goal on GPU: >= 1.5x, bar 4x)")


if __name__ == "__main__":
    main()
