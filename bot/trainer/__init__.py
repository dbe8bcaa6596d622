"""Fine-tuning (HF Trainer), the model registry and the model card; run as `python -m bot.trainer`.

Importing this package is cheap: torch and transformers load only inside the functions that
need them, so the CLI starts fast.
"""
