"""The "torch" backend: transformers' `generate()` on a causal LM (GPT-2 and friends).

On CUDA the model runs in bf16 (fp16 where bf16 is missing): decoding is bound by memory
traffic, which half precision halves. On the CPU it stays fp32 (fp16 matmuls are slow there).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.generation.backend import Candidate
from bot.generation.probe import FINITE_CHECK_TOKENS, check_finite_logits, probe_ids
from bot.generation.sampling import Sampling


class TorchBackend:
    """transformers' `generate()` on a causal LM (GPT-2 and friends)."""

    def __init__(self, model_dir: Path, device: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = model_dir
        self.device = device
        # Half precision on GPU halves memory traffic, which is what bounds decoding speed;
        # bf16 where supported (no overflow), else fp16. The CPU stays in fp32 (fp16 is slow there).
        dtype = torch.float32
        if device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
        self.model: Any = model.to(device).eval()
        eos = self.tokenizer.eos_token_id
        if eos is None:
            eos = self.model.generation_config.eos_token_id
        if isinstance(eos, list):
            eos = eos[0]
        if eos is None:
            raise BotError(f"{model_dir}: the tokenizer has no end-of-text token")
        self.eos_id: int = int(eos)
        bos = self.tokenizer.bos_token_id
        # GPT-2 uses <|endoftext|> as both separator and start; training joined tweets with it,
        # so a tweet "starts" right after one.
        self.start_id: int = int(bos) if bos is not None else self.eos_id
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = int(pad) if pad is not None else self.eos_id
        check_finite_logits(
            self.model, probe_ids(self.tokenizer, self.start_id, FINITE_CHECK_TOKENS), model_dir
        )

    @property
    def label(self) -> str:
        """The backend's name as `status` and the bench show it."""
        return "torch"

    def _prefix_ids(self, prompt: str | None, context: str | None) -> tuple[list[int], int]:
        """Token ids fed to the model, and where the candidate's own text starts."""
        ids = [self.start_id]
        if context:
            ids += [*self.tokenizer.encode(context, add_special_tokens=False), self.eos_id]
        start = len(ids)
        if prompt:
            ids += self.tokenizer.encode(prompt, add_special_tokens=False)
        return ids, start

    def sample(
        self, prompt: str | None, context: str | None, n: int, sampling: Sampling, scored: bool
    ) -> list[Candidate]:
        import torch

        ids, text_start = self._prefix_ids(prompt, context)
        # The same prompt n times: one batch, no padding needed.
        input_ids = torch.tensor([ids] * n, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=True,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                repetition_penalty=sampling.repetition_penalty,
                max_new_tokens=sampling.max_new_tokens,
                min_new_tokens=sampling.min_new_tokens or None,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
                return_dict_in_generate=True,
                output_logits=scored,
            )
        sequences = out.sequences
        new = sequences[:, len(ids) :]
        # Each row stops at its own first EOS; what follows is padding of the batch.
        is_eos = new == self.eos_id
        after_eos = (is_eos.cumsum(dim=1) - is_eos.int()) > 0
        keep = ~after_eos
        lengths = keep.sum(dim=1)
        means = [0.0] * n
        if scored and out.logits:
            # Raw logits (before temperature/top-k): the model's own confidence in each token.
            steps = torch.stack(out.logits, dim=1).float()  # (n, steps, vocab)
            logprobs = torch.log_softmax(steps, dim=-1)
            chosen = logprobs.gather(2, new[:, : steps.shape[1]].unsqueeze(-1)).squeeze(-1)
            mask = keep[:, : steps.shape[1]].float()
            means = ((chosen * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).tolist()
        candidates = []
        for row in range(n):
            own = new[row][keep[row]].tolist()
            body = sequences[row, text_start : len(ids)].tolist() + own
            text = self.tokenizer.decode(body, skip_special_tokens=True).strip()
            candidates.append(Candidate(text, float(means[row]), int(lengths[row])))
        return candidates

    def close(self) -> None:
        import torch

        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
