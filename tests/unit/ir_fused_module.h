// The fused form of the IR builder's functions, written out by hand as the fusion passes emit it,
// for tests that compare fused and original functions (the interpreter's, verify's).
#pragma once

#include <map>
#include <string>

#include "aprc/model_config.h"

namespace aprc::testing {

// The weight types of a module, by symbol, read from its text.
std::map<std::string, std::string> weight_types(const std::string& text);

// The fused form of the builder's function: per layer, norm+q/k/v in one fused_linear, rope of k
// fused with the cache append, o_proj with its residual, norm+gate+up with swiglu, down_proj with
// its residual. `rows` is "?" (prefill) or "1" (decode); `types` are weight_types of the module.
std::string fused_function(const std::string& name, const std::string& rows, const ModelConfig& c,
                           const std::map<std::string, std::string>& types);

// `module_text` (the builder's module printed with locations) with @prefill_fused and
// @decode_fused added.
std::string with_fused_functions(const std::string& module_text, const ModelConfig& c);

}  // namespace aprc::testing
