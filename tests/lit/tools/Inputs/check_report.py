"""Checks the JSON of `aprc verify --report` (one line on stdin).

usage: check_report.py MAX_FP8_ERROR MIN_FP8_TOP1_FRACTION
Passes when the stored weights match the f32 reference exactly (the interpreter reads them as f32
values), and the fp8 row's largest error and top-1 agreement are within the bounds; prints both.
"""
import json
import sys

max_error, min_top1 = float(sys.argv[1]), float(sys.argv[2])
report = json.loads(sys.stdin.read())
rows = {r["name"]: r for r in report["rows"]}
stored, fp8 = rows["stored"], rows["fp8"]
print("stored: max %s, fp8: max %s mean %s top-1 %d/%d" % (
    stored["max_error"], fp8["max_error"], fp8["mean_error"], fp8["top1_agree"], fp8["positions"]))
ok = (stored["max_error"] == 0 and stored["top1_fraction"] == 1
      and fp8["max_error"] is not None and 0 < fp8["max_error"] <= max_error
      and fp8["top1_fraction"] >= min_top1 and len(fp8["position_error"]) == len(report["ids"]))
sys.exit(0 if ok else 1)
