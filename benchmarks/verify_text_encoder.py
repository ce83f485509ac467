"""Check `rearec_keras.text.TextEncoder` against Hugging Face transformers.

The reference is sentence-transformers' recipe for all-MiniLM-L6-v2 run
with `transformers` (PyTorch) from the same local directory: the BERT
tokenizer (truncation to `sequence_length`), `AutoModel`'s last hidden
state, mean pooling over the attention mask, L2 normalisation. Prints

1. token-id agreement of the two tokenizers on the template texts of all
   1,682 ml-100k items plus a few hard strings (accents, punctuation, CJK),
2. the max abs difference of the embeddings of a few sentences and of all
   ml-100k item texts, and the cosine similarities,
3. the golden values used by `tests/text/test_encoder.py`,
4. the time to encode all ml-100k item texts with each.

`transformers` and `torch` are verification-only; they are not dependencies
of rearec_keras. Run (CPU is fine):

    pip install transformers   # torch must already be installed
    python benchmarks/verify_text_encoder.py
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import rearec_keras  # noqa: E402
from rearec_keras import data  # noqa: E402
from rearec_keras.text import TextEncoder  # noqa: E402
from rearec_keras.text import item_texts  # noqa: E402

SENTENCES = [
    "The item information is as follows:\ntitle: Star Wars\nyear: 1977\n"
    "genres: Action, Adventure, Romance, Sci-Fi, War",
    "The item information is as follows:\ntitle: Empire Strikes Back, The\nyear: 1980\n"
    "genres: Action, Adventure, Drama, Romance, Sci-Fi, War",
    "The item information is as follows:\ntitle: Sleepless in Seattle\nyear: 1993\n"
    "genres: Comedy, Romance",
    "Misérables, Les — Nénette et Boni; C'est arrivé près de chez vous!",
    "",
]
HARD = [
    "Café déjà vu, naïve façade.", "Ångström Œuvre straße", "東京 and 北京 are cities",
    "e-mail: someone@example.com (cost: $12.99)...", "tabs\tand\nnewlines  here",
    "UPPER lower MiXeD", "don't won't can't", "¿Qué? ¡Sí!",
    "ﬁne ligature, İstanbul, ΣΊΣΥΦΟΣ", "zero\u200bwidth\x00nul\x7fdel\u00a0nbsp",
    "emoji 🎬🍿 and ½ ² ™", "x" * 50 + " " + "word " * 200,
]


class HuggingFaceReference:
    """sentence-transformers' recipe with plain transformers + torch."""

    def __init__(self, model_dir, sequence_length):
        load = {"local_files_only": True}
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, **load)
        self.model = transformers.AutoModel.from_pretrained(model_dir, **load)
        self.model.eval()
        self.sequence_length = sequence_length

    def tokenize(self, texts):
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.sequence_length,
            return_tensors="pt",
        )

    @torch.no_grad()
    def encode(self, texts, batch_size=64):
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenize(texts[start:start + batch_size])
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, p=2, dim=1).numpy())
        return np.concatenate(out).astype(np.float32)


def main():
    encoder = TextEncoder(sequence_length=128)
    reference = HuggingFaceReference(encoder.model_dir, encoder.sequence_length)
    split = data.leave_one_out(rearec_keras.load_movielens("ml-100k"))
    texts = item_texts(split)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    print(f"encoder: {encoder}")

    # 1. Tokenization.
    all_texts = texts + SENTENCES + HARD
    ours, ours_mask = encoder.tokenize(all_texts)
    theirs = reference.tokenize(all_texts)
    width = theirs["input_ids"].shape[1]
    their_ids = theirs["input_ids"].numpy()
    their_mask = theirs["attention_mask"].numpy() == 1
    same = [
        np.array_equal(ours[i][ours_mask[i]], their_ids[i][their_mask[i]])
        for i in range(len(all_texts))
    ]
    print(f"\n1. token ids identical for {sum(same)}/{len(all_texts)} texts "
          f"(longest HF row {width} tokens)")
    for i, ok in enumerate(same):
        if not ok:
            print(f"   differs: {all_texts[i]!r:.80}")

    # 2. Embeddings.
    ours_s = encoder.encode(SENTENCES + HARD)
    theirs_s = reference.encode(SENTENCES + HARD)
    print(f"\n2. max abs diff, {len(SENTENCES + HARD)} sentences: "
          f"{np.abs(ours_s - theirs_s).max():.3g}")
    t = time.perf_counter()
    ours_all = encoder.encode(texts)
    ours_time = time.perf_counter() - t
    t = time.perf_counter()
    theirs_all = reference.encode(texts)
    theirs_time = time.perf_counter() - t
    print(f"   max abs diff, all {len(texts)} ml-100k item texts: "
          f"{np.abs(ours_all - theirs_all).max():.3g}; min cosine(ours, HF) "
          f"{np.min(np.sum(ours_all * theirs_all, axis=1)):.7f}")
    cos = theirs_s[:3] @ theirs_s[:3].T
    print(f"   HF cosines: StarWars~Empire {cos[0, 1]:.6f}, StarWars~Sleepless {cos[0, 2]:.6f}")
    cos_ours = ours_s[:3] @ ours_s[:3].T
    print(f"   our cosines: StarWars~Empire {cos_ours[0, 1]:.6f}, "
          f"StarWars~Sleepless {cos_ours[0, 2]:.6f}")

    # 3. Golden values for tests/text/test_encoder.py (from the HF reference).
    print("\n3. golden values (HF reference):")
    for i in range(2):
        print(f"   SENTENCES[{i}][:6] = [{', '.join(f'{v:.6f}' for v in theirs_s[i, :6])}]")
    print(f"   cosine(SENTENCES[0], SENTENCES[1]) = {cos[0, 1]:.6f}")

    # 4. Time (after the first call, which loaded the weights).
    print(f"\n4. encode {len(texts)} ml-100k item texts: TextEncoder {ours_time:.2f}s, "
          f"HF transformers {theirs_time:.2f}s (ratio {ours_time / theirs_time:.2f})")


if __name__ == "__main__":
    main()
