#!/usr/bin/env python3
"""Model-core benchmark, PyTorch side: the same work as
crates/genret-model/examples/bench_model.rs (see its documentation for the four measurements),
written with torch and transformers as a PyTorch user would, on the same thread count.

    python bench/model/bench_model.py --threads 2 [--only minilm-encode,bert-train,t5-encode,t5-train]
    python bench/model/bench_model.py --check-dir DIR   # compare with `bench_model --check-dir DIR`

Prints one JSON line per measurement: value (docs/s or steps/s) from the median of the timed
repeats, warm-up iterations excluded.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "..", "..", "shared", "models", "all-MiniLM-L6-v2")

LR = 5e-4
WEIGHT_DECAY = 0.01
# genret's LossWeights::default(): the authors' code values.
W_RANKING, W_GENERATION, W_PREFIX, W_RECONSTRUCTION = 0.5, 0.5, 0.5, 0.1
M, K = 3, 64
# T5 attention: "eager" is the formulation genret's T5 uses (matmul, + position bias, softmax).
ATTN = os.environ.get("T5_ATTN", "eager")


def token_ids(b, l):
    """The token-id pattern both scripts use: [B, L], ids in 1000..29000."""
    i = torch.arange(b * l, dtype=torch.int64)
    return (1000 + (i * 7919) % 28000).view(b, l)


def timed(warmup, repeats, fn):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def report(backbone, measurement, unit, per_iter, threads, samples):
    m = statistics.median(samples)
    print(json.dumps({
        "impl": "pytorch", "backbone": backbone, "measurement": measurement, "threads": threads,
        "unit": unit, "value": per_iter / m, "median_s": m, "samples_s": samples,
    }), flush=True)


# ------------------------------------------------------------------------------------------------
# MiniLM encoding: transformers' BertModel, mean pooling, L2 normalisation.

def load_minilm(path):
    from transformers import BertModel
    model = BertModel.from_pretrained(path, add_pooling_layer=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def minilm_embed(model, ids, mask):
    with torch.no_grad():
        states = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return F.normalize(pooled, p=2, dim=-1, eps=1e-12)


def bench_minilm(args):
    model = load_minilm(args.model)
    ids = token_ids(32, 256)
    mask = torch.ones_like(ids)
    samples = timed(args.warmup or 1, args.repeats or 5, lambda: minilm_embed(model, ids, mask))
    report("bert (all-MiniLM-L6-v2)", "encode 32x256, docs/s", "docs/s", 32, args.threads, samples)


# ------------------------------------------------------------------------------------------------
# GenRet: the light decoder (genret_model::decoder::LightDecoder), heads and losses.

def split_heads(x, heads):
    b, l, d = x.shape
    return x.view(b, l, heads, d // heads).transpose(1, 2)


def merge_heads(x):
    b, h, l, d = x.shape
    return x.transpose(1, 2).contiguous().view(b, l, h * d)


class Attention(nn.Module):
    def __init__(self, hidden, memory, heads):
        super().__init__()
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(memory, hidden)
        self.v = nn.Linear(memory, hidden)
        self.o = nn.Linear(hidden, hidden)
        self.heads = heads

    def forward(self, x, memory, mask, causal, dropout, train):
        q = split_heads(self.q(x), self.heads)
        k = split_heads(self.k(memory), self.heads)
        v = split_heads(self.v(memory), self.heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout if train else 0.0,
                                             is_causal=causal)
        return self.o(merge_heads(out))


class DecoderLayer(nn.Module):
    def __init__(self, hidden, memory, heads, ffn_multiple):
        super().__init__()
        self.self_norm = nn.LayerNorm(hidden)
        self.self_attn = Attention(hidden, hidden, heads)
        self.cross_norm = nn.LayerNorm(hidden)
        self.cross_attn = Attention(hidden, memory, heads)
        self.ffn_norm = nn.LayerNorm(hidden)
        self.ffn = nn.ModuleDict({"in": nn.Linear(hidden, hidden * ffn_multiple),
                                  "out": nn.Linear(hidden * ffn_multiple, hidden)})


class LightDecoder(nn.Module):
    """Pre-norm: causal self-attention over the code prefix, cross-attention over the encoder
    states, GELU feed-forward; learned positions plus a projection of the mean-pooled encoder
    states on every input; final layer norm. Dropout as in genret."""

    def __init__(self, hidden, memory, layers=2, heads=6, ffn_multiple=4, dropout=0.1, max_positions=16):
        super().__init__()
        self.positions = nn.Embedding(max_positions, hidden)
        # genret's `pooled_input`: a projection of the mean-pooled memory joins every input.
        self.pooled = nn.Linear(memory, hidden)
        self.layers = nn.ModuleList(DecoderLayer(hidden, memory, heads, ffn_multiple) for _ in range(layers))
        self.final_norm = nn.LayerNorm(hidden)
        self.dropout = dropout

    def forward(self, inputs, states, mask, train):
        p = self.dropout
        t = inputs.shape[1]
        m = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * m).sum(1) / m.sum(1).clamp_min(1e-9)
        x = F.dropout(inputs + self.positions(torch.arange(t)).unsqueeze(0) + self.pooled(pooled).unsqueeze(1), p,
                      train)
        mem_mask = (mask > 0)[:, None, None, :]
        for l in self.layers:
            h = l.self_norm(x)
            x = x + F.dropout(l.self_attn(h, h, None, True, p, train), p, train)
            h = l.cross_norm(x)
            x = x + F.dropout(l.cross_attn(h, states, mem_mask, False, p, train), p, train)
            h = F.dropout(F.gelu(l.ffn["in"](l.ffn_norm(x))), p, train)
            x = x + F.dropout(l.ffn["out"](h), p, train)
        return self.final_norm(x)


class Heads(nn.Module):
    """GenRet's start vector, per-step codebooks and per-step code-input tables."""

    def __init__(self, d):
        super().__init__()
        self.start = nn.Parameter(torch.randn(d) * 0.02)
        self.codebook = nn.ParameterList(nn.Parameter(torch.randn(K, d) * 0.02) for _ in range(M))
        self.code_input = nn.ParameterList(nn.Parameter(torch.randn(K, d) * 0.02) for _ in range(M))

    def decoder_inputs(self, prefix):
        b, t = prefix.shape
        parts = [self.start.view(1, 1, -1).expand(b, 1, -1)]
        for s in range(t):
            parts.append(self.code_input[s].index_select(0, prefix[:, s]).unsqueeze(1))
        return torch.cat(parts, 1)


def diagonal_ce(scores):
    return F.cross_entropy(scores, torch.arange(scores.shape[0]))


def step_losses(heads, decode_docs, decode_queries, codes):
    """Losses at progressive step T = M (genret_model::losses; temperature 1). `decode_*` map
    decoder inputs [B, T, D] to decoder states [B, T, D] over the documents' / queries' encoding."""
    t = M - 1
    prefix = codes[:, :t]
    z_t = codes[:, t]
    ds = decode_docs(heads.decoder_inputs(prefix))
    qs = decode_queries(heads.decoder_inputs(prefix))
    d_t, q_t = ds[:, t], qs[:, t]
    logits = lambda s, x: x @ heads.codebook[s].t()  # noqa: E731
    ranking = diagonal_ce(q_t @ d_t.t())
    generation = F.cross_entropy(logits(t, q_t), z_t) + F.cross_entropy(logits(t, d_t), z_t)

    def prefix_logits(states):
        return torch.stack([logits(s, states[:, s]) for s in range(t)], 1).reshape(-1, K)

    targets = prefix.reshape(-1)
    prefix_loss = F.cross_entropy(prefix_logits(qs), targets) + F.cross_entropy(prefix_logits(ds), targets)
    e = heads.codebook[t].index_select(0, z_t)
    d_sg = d_t.detach()
    reconstruction = diagonal_ce((e + d_t - d_sg) @ d_sg.t())
    terms = {"ranking": ranking, "generation": generation, "prefix": prefix_loss, "reconstruction": reconstruction}
    # genret's `combine` reads every term's value (a sync on a GPU; nothing on a CPU).
    values = {k: v.item() for k, v in terms.items()}
    total = (W_RANKING * ranking + W_GENERATION * generation + W_PREFIX * prefix_loss
             + W_RECONSTRUCTION * reconstruction)
    values["total"] = total.item()
    return total, values


class BertSetup:
    """Frozen MiniLM-shaped encoder: its states are given; only decoder and heads train."""

    def __init__(self):
        torch.manual_seed(1234)
        self.decoder = LightDecoder(384, 384)
        self.heads = Heads(384)
        b = 64
        self.docs = torch.randn(b, 256, 384)
        self.queries = torch.randn(b, 32, 384)
        self.codes = torch.randint(0, K, (b, M))
        self.modules = nn.ModuleDict({"decoder": self.decoder, "heads": self.heads})

    def named_weights(self):
        """Parameters under genret's variable names."""
        out = {f"backbone.decoder.{n}": p for n, p in self.decoder.named_parameters()}
        out["genret.start"] = self.heads.start
        for s in range(M):
            out[f"genret.codebook.{s}"] = self.heads.codebook[s]
            out[f"genret.code_input.{s}"] = self.heads.code_input[s]
        return out

    def losses(self, train):
        dmask = torch.ones(self.docs.shape[:2], dtype=torch.int64)
        qmask = torch.ones(self.queries.shape[:2], dtype=torch.int64)
        return step_losses(self.heads, lambda inp: self.decoder(inp, self.docs, dmask, train),
                           lambda inp: self.decoder(inp, self.queries, qmask, train), self.codes)


def t5_config():
    from transformers import T5Config
    return T5Config(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=6, num_heads=8,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                    layer_norm_epsilon=1e-6, feed_forward_proj="relu", tie_word_embeddings=True, vocab_size=32128,
                    pad_token_id=0, decoder_start_token_id=0, use_cache=False,
                    attn_implementation=ATTN)


class T5Setup:
    """t5-small shape, random; full fine-tuning: T5 encodes, T5's decoder reads code vectors."""

    def __init__(self):
        from transformers import T5ForConditionalGeneration
        torch.manual_seed(1234)
        self.model = T5ForConditionalGeneration(t5_config())
        self.heads = Heads(512)
        b = 16
        self.docs = token_ids(b, 128)
        self.queries = token_ids(b, 32)
        self.codes = torch.randint(0, K, (b, M))
        self.modules = nn.ModuleDict({"t5": self.model, "heads": self.heads})

    def named_weights(self):
        out = {}
        for n, p in self.model.named_parameters():
            # transformers ties shared/embed_tokens/lm_head: one parameter, named `shared.weight`.
            out[f"backbone.{n}"] = p
        out["genret.start"] = self.heads.start
        for s in range(M):
            out[f"genret.codebook.{s}"] = self.heads.codebook[s]
            out[f"genret.code_input.{s}"] = self.heads.code_input[s]
        return out

    def losses(self, train):
        self.model.train(train)
        enc = self.model.get_encoder() if hasattr(self.model, "get_encoder") else self.model.encoder
        dec = self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model.decoder

        def encode(ids):
            mask = torch.ones_like(ids)
            return enc(input_ids=ids, attention_mask=mask).last_hidden_state, mask

        d_states, d_mask = encode(self.docs)
        q_states, q_mask = encode(self.queries)

        def decode(inputs, states, mask):
            return dec(inputs_embeds=inputs, encoder_hidden_states=states, encoder_attention_mask=mask,
                       use_cache=False).last_hidden_state

        return step_losses(self.heads, lambda inp: decode(inp, d_states, d_mask),
                           lambda inp: decode(inp, q_states, q_mask), self.codes)


def optimizer(setup):
    params = [p for p in setup.modules.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WEIGHT_DECAY)


def freeze_earlier_codebooks(setup):
    for s in range(M - 1):
        setup.heads.codebook[s].requires_grad_(False)


def train_step(setup, opt, train):
    total, values = setup.losses(train)
    opt.zero_grad()
    total.backward()
    opt.step()
    return values


def make_setup(backbone):
    setup = BertSetup() if backbone == "bert" else T5Setup()
    freeze_earlier_codebooks(setup)
    return setup


def bench_train(args, backbone):
    setup = make_setup(backbone)
    opt = optimizer(setup)
    warmup, repeats = (2, 7) if backbone == "bert" else (1, 3)

    def step():
        values = train_step(setup, opt, True)
        assert math.isfinite(values["total"])

    samples = timed(args.warmup or warmup, args.repeats or repeats, step)
    if backbone == "bert":
        report("bert (frozen MiniLM-shaped encoder)", "train step B=64 L=256, steps/s", "steps/s", 1, args.threads,
               samples)
    else:
        report("t5 (t5-small shape, random)", "train step B=16 L=128, steps/s", "steps/s", 1, args.threads, samples)


def bench_t5_encode(args):
    from transformers import T5ForConditionalGeneration
    torch.manual_seed(1234)
    model = T5ForConditionalGeneration(t5_config())
    model.eval()
    enc = model.get_encoder()
    ids = token_ids(16, 128)
    mask = torch.ones_like(ids)

    def run():
        with torch.no_grad():
            return enc(input_ids=ids, attention_mask=mask).last_hidden_state

    samples = timed(args.warmup or 1, args.repeats or 5, run)
    report("t5 (t5-small shape, random)", "encode 16x128, docs/s", "docs/s", 16, args.threads, samples)


# ------------------------------------------------------------------------------------------------
# Parity with the Rust side.

def check(args):
    from safetensors.torch import load_file
    with open(os.path.join(args.check_dir, "reference.json")) as f:
        reference = json.load(f)
    failures = []

    def close(name, got, want, tol):
        diff = abs(got - want) / max(1.0, abs(want))
        status = "ok" if diff <= tol else "MISMATCH"
        print(f"{name:<40} genret {want:.7f}  pytorch {got:.7f}  rel diff {diff:.1e}  {status}")
        if diff > tol:
            failures.append(name)

    for backbone in ["bert", "t5"]:
        setup = make_setup(backbone)
        weights = load_file(os.path.join(args.check_dir, f"{backbone}-weights.safetensors"))
        inputs = load_file(os.path.join(args.check_dir, f"{backbone}-inputs.safetensors"))
        ours = setup.named_weights()
        with torch.no_grad():
            for name, p in ours.items():
                if name not in weights:
                    raise SystemExit(f"{backbone}: genret has no variable {name}")
                p.copy_(weights[name])
        if backbone == "bert":
            leftover = set(weights) - set(ours)
            assert not leftover, f"bert: unmatched genret variables {sorted(leftover)[:5]}"
            setup.docs, setup.queries = inputs["doc_states"], inputs["query_states"]
        else:
            # The T5 variables that have no PyTorch counterpart must not exist.
            leftover = set(weights) - set(ours)
            assert not leftover, f"t5: unmatched genret variables {sorted(leftover)[:5]}"
            setup.docs, setup.queries = inputs["doc_ids"], inputs["query_ids"]
        setup.codes = inputs["codes"]
        opt = optimizer(setup)
        total, before = setup.losses(False)
        opt.zero_grad()
        total.backward()
        grads = load_file(os.path.join(args.check_dir, f"{backbone}-grads.safetensors"))
        have = {n for n, p in ours.items() if p.grad is not None}
        if have != set(grads):
            failures.append(f"{backbone} gradient sets")
            print(f"{backbone}: parameters with gradients differ: only genret {sorted(set(grads) - have)[:5]}, "
                  f"only pytorch {sorted(have - set(grads))[:5]}")
        # Per tensor, relative to its norm; tensors whose gradient is mathematically zero (e.g.
        # attention key biases, which softmax ignores) hold only rounding noise and are compared
        # against the global gradient norm instead.
        common = sorted(have & set(grads))
        global_norm = torch.stack([ours[n].grad.norm() for n in common]).norm().item()
        worst, worst_name = 0.0, None
        for n in common:
            g = ours[n].grad
            diff = ((g - grads[n]).norm() / max(g.norm().item(), 1e-6 * global_norm)).item()
            if diff > worst:
                worst, worst_name = diff, n
        print(f"{backbone + ' gradients (worst relative L2 diff)':<40} {worst:.1e} at {worst_name}  "
              f"{'ok' if worst < 1e-3 else 'MISMATCH'}")
        if worst >= 1e-3:
            failures.append(f"{backbone} gradients")
        opt.step()
        with torch.no_grad():
            _, after = setup.losses(False)
        want = reference[backbone]
        for key in ["total", "ranking", "generation", "prefix", "reconstruction"]:
            close(f"{backbone} {key} (initial)", before[key], want["before"][key], 1e-4)
        for key in ["total", "ranking", "generation", "prefix", "reconstruction"]:
            # Looser: AdamW's first step is about lr * sign(gradient) per element, so the rounding
            # noise in mathematically-zero gradients becomes full-size (but tiny) updates.
            close(f"{backbone} {key} (after one AdamW step)", after[key], want["after_one_step"][key], 5e-3)

    model = load_minilm(args.model)
    ids = token_ids(32, 256)
    emb = minilm_embed(model, ids, torch.ones_like(ids))[:2]
    want = torch.tensor(reference["minilm"]["embeddings_rows_0_1"])
    diff = (emb - want).abs().max().item()
    print(f"{'minilm embeddings rows 0-1':<40} max abs diff {diff:.1e}  {'ok' if diff < 1e-4 else 'MISMATCH'}")
    if diff >= 1e-4:
        failures.append("minilm")
    if failures:
        raise SystemExit(f"parity check failed: {failures}")
    print("parity: genret and PyTorch compute the same losses and embeddings")


def table(path):
    """One table: backbone, measurement, threads, genret, PyTorch, ratio genret/PyTorch."""
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            rows.setdefault((r["backbone"], r["measurement"], r["threads"]), {})[r["impl"]] = r
    header = ["backbone", "measurement", "threads", "genret", "PyTorch", "genret/PyTorch"]
    body = []
    for (backbone, measurement, threads), impls in rows.items():
        g, p = impls.get("genret"), impls.get("pytorch")
        fmt = lambda r: "-" if r is None else f"{r['value']:.2f}"  # noqa: E731
        ratio = f"{g['value'] / p['value']:.2f}" if g and p else "-"
        body.append([backbone, measurement, str(threads), fmt(g), fmt(p), ratio])
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in body:
        print(line(r))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="minilm-encode,bert-train,t5-encode,t5-train")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--check-dir", default=None)
    ap.add_argument("--table", default=None, help="print the comparison table of a results file and exit")
    args = ap.parse_args()
    if args.table:
        table(args.table)
        return
    torch.set_num_threads(args.threads)
    if args.check_dir:
        check(args)
        return
    for m in args.only.split(","):
        if m == "minilm-encode":
            bench_minilm(args)
        elif m == "bert-train":
            bench_train(args, "bert")
        elif m == "t5-encode":
            bench_t5_encode(args)
        elif m == "t5-train":
            bench_train(args, "t5")
        else:
            sys.exit(f"unknown measurement {m}")


if __name__ == "__main__":
    main()
