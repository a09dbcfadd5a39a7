"""The LRA model: embeddings, pre-LN encoder blocks around an attention_zoo attention, pooling and a head."""

from lra.model.classifier import DualEncoderClassifier, SequenceClassifier, build_model, count_parameters

__all__ = ["DualEncoderClassifier", "SequenceClassifier", "build_model", "count_parameters"]
