"""What the jest tests of the options form read from the real core: the options schemas the
server serves, and the messages the core gives for bad options (with the field each names)."""

import json

from jupyter_automl.base_models import BaseModelRegistry
from jupyter_automl.errors import InvalidInput
from jupyter_automl.model_types import ModelType
from jupyter_automl.training.options import options_schema, resolve_options

registry = BaseModelRegistry.from_config([])
text = registry.default_for(ModelType.TEXT_CLASSIFICATION)
chat = registry.default_for(ModelType.LLM_CHAT)
HEADS = ["sentiment", "topic"]

BAD = [  # (options, the field the message is about)
    ({"max_epochs": 3, "early_stopping": 5}, "early_stopping"),
    ({"max_epochs": 0}, "max_epochs"),
    ({"selection_label": "colour"}, "selection_label"),
    ({"learning_rate": -1}, "learning_rate"),
    ({"validation_percent": 80}, "validation_percent"),
]
errors = []
for options, field in BAD:
    try:
        resolve_options(options, model_type=ModelType.TEXT_CLASSIFICATION, base_model=text,
                        heads=HEADS)
    except InvalidInput as error:
        errors.append({"options": options, "field": field, "message": error.message})
    else:
        raise SystemExit(f"{options} were accepted")

print(json.dumps({
    "text_classification": options_schema(ModelType.TEXT_CLASSIFICATION, text, HEADS),
    "llm_chat": options_schema(ModelType.LLM_CHAT, chat),
    "errors": errors,
}))
