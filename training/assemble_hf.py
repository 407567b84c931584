#!/usr/bin/env python3
"""Turn training/train.py's output into a Hugging Face folder that aprc (and transformers) read.

    python3 training/assemble_hf.py TRAIN_OUT TOKENIZER_DIR HF_OUT

TRAIN_OUT holds layers.safetensors, embed-K.safetensors (rows of the tokens seen in training, their
ids, and the one row every other token shares), config.json and train-log.json. HF_OUT gets
config.json, model.safetensors (bf16, the full embedding rebuilt), tokenizer.json and
tokenizer_config.json from TOKENIZER_DIR, and the held-out passages named in train-log.json.
Plain Python (no numpy): the tensors are moved as bytes, never converted.
"""
import glob
import json
import os
import shutil
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    header.pop("__metadata__", None)
    base = 8 + header_len
    return {name: (info["dtype"], info["shape"], blob[base + info["data_offsets"][0]:base + info["data_offsets"][1]])
            for name, info in header.items()}


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(tensors):
            f.write(tensors[name][2])


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    train_out, tokenizer_dir, hf_out = sys.argv[1:]
    os.makedirs(hf_out, exist_ok=True)
    with open(os.path.join(train_out, "config.json")) as f:
        config = json.load(f)
    config["architectures"] = ["Qwen2ForCausalLM"]
    config["model_type"] = "qwen2"
    vocab, hidden = config["vocab_size"], config["hidden_size"]

    tensors = read_safetensors(os.path.join(train_out, "layers.safetensors"))
    row_bytes = hidden * 2
    rows = None
    for path in sorted(glob.glob(os.path.join(train_out, "embed-*.safetensors"))):
        part = read_safetensors(path)
        if "unseen_row" in part:
            dtype, shape, unseen = part["unseen_row"]
            assert dtype == "BF16" and shape == [hidden], path
            rows = [unseen] * vocab if rows is None else rows
        ids_dtype, ids_shape, ids = part["ids"]
        rows_dtype, rows_shape, data = part["rows"]
        assert ids_dtype == "I32" and rows_dtype == "BF16" and rows_shape == [ids_shape[0], hidden], path
        for k, (token,) in enumerate(struct.iter_unpack("<i", ids)):
            rows[token] = data[k * row_bytes:(k + 1) * row_bytes]
    if rows is None:
        sys.exit(f"{train_out}: no embed-K.safetensors with the shared row")
    tensors["model.embed_tokens.weight"] = ("BF16", [vocab, hidden], b"".join(rows))
    write_safetensors(os.path.join(hf_out, "model.safetensors"), tensors)
    with open(os.path.join(hf_out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(hf_out, name))
    with open(os.path.join(train_out, "train-log.json")) as f:
        log = json.load(f)
    for name, passage in log.get("passages", {}).items():
        with open(os.path.join(hf_out, name), "w", encoding="utf-8") as f:
            f.write(passage["text"])
    print(f"{hf_out}: {len(tensors)} tensors, vocab {vocab}, hidden {hidden}, "
          f"{len(log.get('passages', {}))} held-out passages")


if __name__ == "__main__":
    main()
