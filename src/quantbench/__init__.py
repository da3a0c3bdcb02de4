"""quantbench: a pytest-benchmark regression harness for LLM inference under quantization."""

__version__ = "0.1.0"
