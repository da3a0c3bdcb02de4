"""Where a model comes from: a hub id, a local folder, ``synthetic:<name>`` or ``gguf:<file>``.

``model`` says what a resolved source is, ``resolve`` turns what the user wrote into one (building a
synthetic checkpoint when asked), and ``gguf`` dequantizes a GGUF file into a checkpoint folder.
"""

from quantbench.sources.model import GGUF_PREFIX, SYNTHETIC_PREFIX, ModelSource, SourceError
from quantbench.sources.resolve import (load_tokenizer, materialize_synthetic, meta_model, resolve_source,
                                        model_parameters, same_model, source_kind, synthetic_config_dict, synthetic_folder,
                                        synthetic_names)

__all__ = ["GGUF_PREFIX", "SYNTHETIC_PREFIX", "ModelSource", "SourceError", "load_tokenizer",
           "materialize_synthetic", "meta_model", "model_parameters", "resolve_source", "same_model", "source_kind",
           "synthetic_config_dict", "synthetic_folder", "synthetic_names"]
