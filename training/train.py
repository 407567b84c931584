#!/usr/bin/env python3
"""Train aprc's demo model: a small Qwen2.5-architecture language model on the CPython standard library.

Run on a GPU machine with PyTorch, transformers and tokenizers (no network needed):

    python3 training/train.py --tokenizer path/to/tokenizer.json --out OUTDIR [--steps N] [--seed 0]

Data: every .py file of the running interpreter's standard library (sysconfig's 'stdlib' path), and
of every installed package whose metadata declares an MIT, BSD, Apache, PSF or ISC license (and no GPL),
read as strict UTF-8, files over 1 MB skipped; package files are taken in the order of sha1(path) while
the text stays under --max-chars characters. Held out: the standard library
files for which the first byte of sha1(path relative to the stdlib) is divisible by 40 (about 2.5%); a
package file with the same text, or whose path ends with a held-out path, is dropped from training.
The rest is training text, files joined by <|endoftext|>. The held-out passages written out are from
the CPython standard library (PSF license).

Model: Qwen2ForCausalLM, hidden 256, 6 layers, 4 heads of 64, 2 key/value heads, intermediate 1024,
the full Qwen vocabulary (151936) with tied embeddings. Tokens that never occur in the training text
(or fewer than --min-count times, raised until at most 96000 rows differ) share one embedding row
(kept equal after every step): the model is an ordinary Qwen2 checkpoint, and
OUTDIR holds only the rows that differ, so it fits through a small file transfer.
training/assemble_hf.py turns OUTDIR into a Hugging Face folder.

Perplexity (sliding window, the same algorithm as `aprc perplexity`): a window of W tokens every S
tokens, each window a fresh sequence; target t is scored once, in the first window that ends past it.

Without --steps, the number of steps is chosen from the measured step time to fit --budget-s seconds
of training; the chosen number is printed and recorded, and --steps N reproduces the run.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import platform
import sys
import sysconfig
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import Qwen2Config, Qwen2ForCausalLM

EOT = 151643  # <|endoftext|>
CONFIG = dict(vocab_size=151936, hidden_size=256, intermediate_size=1024, num_hidden_layers=6,
              num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
              rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True, hidden_act="silu",
              bos_token_id=EOT, eos_token_id=EOT, use_sliding_window=False)
EMBED = "model.embed_tokens.weight"
ROWS_PER_FILE = 32000  # 32000 x 256 bf16 = 16.4 MB, under the 16 MiB a transferred file may have


PERMISSIVE = ("MIT", "BSD", "Apache", "PSF", "Python Software Foundation", "ISC")


def read_py(path):
    """A file's text, or None for files over 1 MB (generated tables), not strict UTF-8, or blank."""
    if os.path.getsize(path) > 1_000_000:
        return None
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read()
    except (UnicodeDecodeError, OSError):
        return None
    return text if text.strip() else None


def stdlib_files():
    root = sysconfig.get_paths()["stdlib"]
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "dist-packages", "__pycache__"))
        files += [os.path.join(dirpath, n) for n in filenames if n.endswith(".py")]
    texts = [(os.path.relpath(p, root), read_py(p)) for p in sorted(files)]
    return root, [(rel, t) for rel, t in texts if t is not None]


def permissive_package_files():
    """The .py files of every installed distribution whose metadata declares an MIT, BSD, Apache, PSF or
    ISC license (License-Expression, License or a 'License ::' classifier), as listed in its RECORD."""
    site = sysconfig.get_paths()["purelib"]
    chosen, files = [], []
    for info in sorted(glob.glob(os.path.join(site, "*.dist-info"))):
        try:
            with open(os.path.join(info, "METADATA"), encoding="utf-8", errors="replace") as f:
                meta = f.read().split("\n\n", 1)[0]
            with open(os.path.join(info, "RECORD"), encoding="utf-8", errors="replace") as f:
                record = [line.split(",")[0] for line in f]
        except OSError:
            continue
        licenses = [line for line in meta.splitlines()
                    if line.startswith(("License-Expression:", "License:", "Classifier: License ::"))]
        if any(("GPL" in l) for l in licenses) or not any(any(k in l for k in PERMISSIVE) for l in licenses):
            continue
        chosen.append(os.path.basename(info))
        files += [os.path.normpath(os.path.join(site, r)) for r in record if r.endswith(".py")]
    texts = [(os.path.relpath(p, site), read_py(p)) for p in sorted(set(files)) if os.path.isfile(p)]
    return site, chosen, [(rel, t) for rel, t in texts if t is not None]


def is_held_out(rel):
    return hashlib.sha1(rel.encode()).digest()[0] % 40 == 0


@torch.no_grad()
def window_nll(model, ids, window, stride, device):
    """Sum of -log p over targets 1..N-1 and their count, scored as `aprc perplexity` does."""
    n = len(ids)
    total, count, prev_end, begin = 0.0, 0, 0, 0
    while True:
        end = min(begin + window, n)
        x = torch.tensor(ids[begin:end], device=device).unsqueeze(0)
        logits = model(input_ids=x).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        # A window's first token has no context in it: with stride == window it goes unscored.
        for_t = torch.arange(max(prev_end, begin + 1), end, device=device)
        if len(for_t):
            total += -logp[for_t - begin - 1, x[0, for_t - begin]].sum().item()
            count += len(for_t)
        prev_end = end
        if end == n:
            return total, count
        begin += stride


def perplexity(model, docs, window, stride, device):
    total = count = 0
    for ids in docs:
        if len(ids) >= 2:
            t, c = window_nll(model, ids, window, stride, device)
            total, count = total + t, count + c
    return math.exp(total / count), count


def take_lines(text, max_chars):
    """The text's first lines, up to max_chars characters (whole lines, ending in a newline)."""
    out = []
    size = 0
    for line in text.splitlines(keepends=True):
        if size + len(line) > max_chars:
            break
        out.append(line)
        size += len(line)
    return "".join(out)


def export(model, seen_ids, unseen_ids, config, out):
    """The checkpoint: every tensor but the embedding in one file; the embedding as the rows of seen
    tokens (with their ids) in files of ROWS_PER_FILE rows, plus the one row unseen tokens share."""
    state = {k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in model.state_dict().items()
             if k != "lm_head.weight"}
    full = state.pop(EMBED)
    save_file(state, os.path.join(out, "layers.safetensors"))
    seen_cpu = seen_ids.cpu()
    for k, first in enumerate(range(0, len(seen_cpu), ROWS_PER_FILE)):
        part = seen_cpu[first:first + ROWS_PER_FILE]
        tensors = {"ids": part.to(torch.int32).contiguous(), "rows": full[part].contiguous()}
        if k == 0:
            tensors["unseen_row"] = full[unseen_ids[0].item()].contiguous()
        save_file(tensors, os.path.join(out, f"embed-{k}.safetensors"))
    config.to_json_file(os.path.join(out, "config.json"))


def write_log(log, out):
    with open(os.path.join(out, "train-log.json"), "w") as f:
        json.dump(log, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--max-chars", type=int, default=200_000_000)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--budget-s", type=float, default=330.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--stride", type=int, default=256)
    args = ap.parse_args()
    if not 0 < args.stride <= args.window:
        ap.error("--stride must be in [1, --window]")
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    device = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = True
    log = {"seed": args.seed, "python": platform.python_version(), "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(0), "args": vars(args), "config": CONFIG}

    tok = Tokenizer.from_file(args.tokenizer)
    root, texts = stdlib_files()
    site, packages, package_texts = permissive_package_files()
    held = [(rel, t) for rel, t in texts if is_held_out(rel)]
    held_texts = {t for _, t in held}
    held_paths = tuple("/" + rel for rel, _ in held)
    train_texts = [t for rel, t in texts if not is_held_out(rel)]
    package_texts = [(rel, t) for rel, t in package_texts
                     if t not in held_texts and not ("/" + rel).endswith(held_paths)]
    budget = args.max_chars - sum(len(t) for t in train_texts)
    for rel, t in sorted(package_texts, key=lambda rt: hashlib.sha1(rt[0].encode()).digest()):
        if len(t) <= budget:
            train_texts.append(t)
            budget -= len(t)
    t0 = time.time()
    train_docs = [np.asarray(e.ids, dtype=np.int64) for k in range(0, len(train_texts), 1000)
                  for e in tok.encode_batch(train_texts[k:k + 1000], add_special_tokens=False)]
    held_docs = [e.ids for e in tok.encode_batch([t for _, t in held], add_special_tokens=False)]
    eot = np.asarray([EOT], dtype=np.int64)
    stream = np.concatenate([x for d in train_docs for x in (d, eot)])
    data = torch.from_numpy(stream).to(device)
    log["data"] = {"stdlib": root, "stdlib_files": len(texts), "site_packages": site, "packages": packages,
                   "package_files": len(package_texts), "train_files": len(train_texts),
                   "train_chars": sum(len(t) for t in train_texts), "held_out_files": [rel for rel, _ in held],
                   "train_tokens": len(stream), "held_out_tokens": sum(len(d) for d in held_docs),
                   "tokenize_seconds": round(time.time() - t0, 1)}
    print(json.dumps(log["data"] | {"held_out_files": len(held), "packages": len(packages)}), flush=True)

    config = Qwen2Config(**CONFIG)
    model = Qwen2ForCausalLM(config).to(device)
    embed = model.model.embed_tokens.weight
    counts = torch.bincount(data, minlength=config.vocab_size)
    min_count = args.min_count
    while int((counts >= min_count).sum()) > 96000:
        min_count *= 2
    seen = counts >= min_count
    seen_ids = seen.nonzero().squeeze(1)
    unseen_ids = (~seen).nonzero().squeeze(1)
    log["min_count"] = min_count
    log["seen_tokens"] = len(seen_ids)

    def tie_unseen_rows():
        with torch.no_grad():
            embed[unseen_ids] = embed[unseen_ids].mean(0)

    tie_unseen_rows()
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), fused=True)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    steps = args.steps
    measure_from, t_measure = 20, None
    step, losses = 0, []
    t_train = time.time()
    model.train()
    while steps is None or step < steps:
        total = steps if steps is not None else 10**9
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        if steps is not None and step >= args.warmup:
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - args.warmup) / max(1, total - args.warmup))))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - args.seq - 1, (args.batch,), device=device, generator=gen)
        idx = starts.unsqueeze(1) + torch.arange(args.seq + 1, device=device)
        chunk = data[idx]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=chunk[:, :-1]).logits
        loss = F.cross_entropy(logits.float().reshape(-1, config.vocab_size), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tie_unseen_rows()
        step += 1
        if step % 50 == 0 or step == 1:
            losses.append((step, loss.item()))
            print(f"step {step} loss {losses[-1][1]:.4f} lr {lr:.2e} {time.time() - t_train:.0f}s", flush=True)
        if steps is None and step == measure_from:
            torch.cuda.synchronize()
            t_measure = time.time()
        if steps is None and step == measure_from + 50:
            torch.cuda.synchronize()
            per_step = (time.time() - t_measure) / 50
            steps = int((args.budget_s - (time.time() - t_train)) / per_step) + step
            print(f"{per_step * 1e3:.1f} ms a step: {steps} steps in all", flush=True)
    torch.cuda.synchronize()
    log["steps"] = steps
    log["train_seconds"] = round(time.time() - t_train, 1)
    log["tokens_seen"] = steps * args.batch * args.seq
    log["train_loss_last"] = sum(l for _, l in losses[-5:]) / len(losses[-5:])
    log["loss_curve"] = losses

    model.eval()
    f32_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())  # the checkpoint that is shipped: bf16 weights
    tie_unseen_rows()
    export(model, seen_ids, unseen_ids, config, args.out)
    write_log(log, args.out)  # what is known so far, in case an evaluation below fails

    ppl_bf16, scored = perplexity(model, held_docs, args.window, args.stride, device)
    log["held_out"] = {"scored_tokens": scored, "perplexity_bf16_checkpoint": ppl_bf16}
    # Two passages of held-out text for the engines' checks: a longer one and a short one for CI.
    by_size = sorted(held, key=lambda rt: (-len(rt[1]), rt[0]))
    passages = {"heldout-eval.txt": (by_size[0][0], take_lines(by_size[0][1], 6000)),
                "heldout-short.txt": (by_size[1][0], take_lines(by_size[1][1], 1500))}
    log["passages"] = {}
    for name, (rel, text) in passages.items():
        ids = tok.encode(text, add_special_tokens=False).ids
        t, c = window_nll(model, ids, args.window, args.stride, device)
        log["passages"][name] = {"source": rel, "tokens": len(ids), "perplexity_bf16_checkpoint": math.exp(t / c),
                                 "text": text}
    write_log(log, args.out)
    prompt = tok.encode("def fibonacci(n):", add_special_tokens=False).ids
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt], device=device), max_new_tokens=60, do_sample=False,
                             pad_token_id=EOT)
    log["sample_greedy"] = tok.decode(out[0].tolist())
    print(log["sample_greedy"], flush=True)
    model.load_state_dict(f32_state)
    log["held_out"]["perplexity_f32"], _ = perplexity(model, held_docs, args.window, args.stride, device)
    log["total_seconds"] = round(time.time() - t_start, 1)
    write_log(log, args.out)
    summary = {k: log[k] for k in ("steps", "train_seconds", "train_loss_last", "held_out", "seen_tokens", "total_seconds")}
    summary["passages"] = {k: {f: v for f, v in p.items() if f != "text"} for k, p in log["passages"].items()}
    print(json.dumps(summary, indent=1), flush=True)


if __name__ == "__main__":
    sys.exit(main())
