"""Helper scripts; `scripts.fakes` and `scripts.tiny_model` serve tests and benches too."""
