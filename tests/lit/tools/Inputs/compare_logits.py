"""Compares the last row of an `aprc logits` output ([T][vocab] float32 LE) with a reference row.

usage: compare_logits.py OURS.f32 REFERENCE.f32 T TOLERANCE
Passes when max |ours - ref| / max |ref| <= TOLERANCE (NaN never passes); prints the error.
"""
import array
import math
import sys

ours_path, ref_path, rows, tolerance = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ours, ref = array.array("f"), array.array("f")
with open(ours_path, "rb") as f:
    ours.frombytes(f.read())
with open(ref_path, "rb") as f:
    ref.frombytes(f.read())
vocab = len(ref)
if len(ours) != rows * vocab:
    sys.exit("%s holds %d floats, expected %d x %d" % (ours_path, len(ours), rows, vocab))
last = ours[(rows - 1) * vocab:]
diff = max(abs(a - b) if math.isfinite(a) else math.inf for a, b in zip(last, ref))
error = diff / max(abs(b) for b in ref)
print("last-row error %.3g of the largest |logit|" % error)
sys.exit(0 if error <= tolerance else 1)
