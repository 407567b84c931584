# lit configuration for aprc's IR tests (FileCheck, -verify-diagnostics). The build writes
# lit.site.cfg.py, which sets the tool and fixture paths and then loads this file.
import os
import sys

import lit.formats

config.name = "aprc"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.aprc_lit_exec_root

for tool_dir in (config.llvm_tools_dir, config.aprc_opt_dir, config.aprc_dir):
    config.environment["PATH"] = tool_dir + os.pathsep + config.environment.get("PATH", "")

config.substitutions.append(("%python", sys.executable))

# Fixtures are optional: tests that need them say `REQUIRES: fixtures`, and lit reports them as
# unsupported (with this reason in the log) when they are absent.
fixtures = os.environ.get("APRC_FIXTURES", config.aprc_fixtures_dir)
config.environment["APRC_FIXTURES"] = fixtures
config.substitutions.append(("%fixtures", fixtures))
if os.path.exists(os.path.join(fixtures, "qwen2-tiny-q4km.gguf")):
    config.available_features.add("fixtures")
else:
    lit_config.note("fixtures not found at %s: tests that need them are unsupported" % fixtures)
