"""Checks the JSON of `aprc verify --report` (one line on stdin).

usage: check_report.py MAX_FP8_ERROR MIN_FP8_TOP1_FRACTION
Passes when the stored weights match the f32 reference exactly in the interpreter (it reads them as
f32 values) and within 1e-3 in the stored CPU plan, and each fp8 row's (interpreter, CPU plan)
largest error and top-1 agreement are within the bounds; prints the figures.
"""
import json
import sys

max_error, min_top1 = float(sys.argv[1]), float(sys.argv[2])
report = json.loads(sys.stdin.read())
rows = {(r["name"], r["engine"]): r for r in report["rows"]}
ok = len(rows) == 4
for engine in ("interpreter", "cpu plan"):
    stored, fp8 = rows[("stored", engine)], rows[("fp8", engine)]
    print("%s: stored max %s, fp8 max %s mean %s top-1 %d/%d" % (
        engine, stored["max_error"], fp8["max_error"], fp8["mean_error"], fp8["top1_agree"], fp8["positions"]))
    stored_bound = 0 if engine == "interpreter" else 1e-3
    ok = ok and (stored["max_error"] is not None and stored["max_error"] <= stored_bound
                 and stored["top1_fraction"] == 1
                 and fp8["max_error"] is not None and 0 < fp8["max_error"] <= max_error
                 and fp8["top1_fraction"] >= min_top1 and len(fp8["position_error"]) == len(report["ids"]))
sys.exit(0 if ok else 1)
