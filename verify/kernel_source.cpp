#include "aprc/verify/kernel_source.h"

namespace aprc::verify {
namespace {

size_t line_start(std::string_view s, size_t at) {
  const size_t nl = at == 0 ? std::string_view::npos : s.rfind('\n', at - 1);
  return nl == std::string_view::npos ? 0 : nl + 1;
}

// The brace that closes the one at `open` (braces in comments and strings are not expected in
// generated code), or npos.
size_t closing_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// Where the declaration of `name` starts: for MLIR the text "func.func @NAME(" (private helpers
// too); for CUDA " NAME(" on a line that declares a __global__ function (APRC_KERNEL is the
// generated code's macro for extern "C" __global__).
size_t declaration(std::string_view s, const std::string& name, KernelLanguage language) {
  if (language == KernelLanguage::Mlir) {
    for (const std::string marker : {"func.func @" + name + "(", "func.func private @" + name + "("}) {
      const size_t at = s.find(marker);
      if (at != std::string_view::npos) return at;
    }
    return std::string_view::npos;
  }
  const std::string marker = " " + name + "(";
  for (size_t at = s.find(marker); at != std::string_view::npos; at = s.find(marker, at + 1)) {
    const std::string_view line = s.substr(line_start(s, at), at - line_start(s, at));
    if (line.find("__global__") != std::string_view::npos || line.find("APRC_KERNEL") != std::string_view::npos) return at;
  }
  return std::string_view::npos;
}

// A hand-written CUDA kernel (aprc compile --override-kernel NAME=FILE.cu; codegen/cuda/emit.cpp
// splices it in): the file's text, between the #line directives inside its markers.
SourceSpan hand_written(std::string_view s, const std::string& name) {
  const size_t marker = s.find("// ---- hand-written kernel " + name + " (");
  if (marker == std::string_view::npos) return {};
  const size_t end_marker = s.find("// ---- end of hand-written kernel " + name + " ----", marker);
  const size_t first = s.find("\n#line 1 ", marker);
  if (end_marker == std::string_view::npos || first == std::string_view::npos || first > end_marker) return {};
  const size_t begin = s.find('\n', first + 1) + 1;
  const size_t end = s.rfind("#line ", end_marker);
  return end == std::string_view::npos || end < begin ? SourceSpan{} : SourceSpan{begin, end};
}

}  // namespace

SourceSpan kernel_definition(std::string_view s, const std::string& name, KernelLanguage language) {
  if (language == KernelLanguage::Cuda)
    if (const SourceSpan h = hand_written(s, name); h.found()) return h;
  const size_t at = declaration(s, name, language);
  if (at == std::string_view::npos) return {};
  size_t open;
  if (language == KernelLanguage::Mlir) {
    // The body's brace ends the signature line (attribute dictionaries come before it).
    const size_t eol = s.find('\n', at);
    open = s.rfind('{', eol == std::string_view::npos ? s.size() - 1 : eol);
    if (open == std::string_view::npos || open < at) return {};
  } else {
    // Past the parameter list, the first brace.
    size_t depth = 0, i = s.find('(', at);
    for (; i < s.size(); ++i) {
      if (s[i] == '(') ++depth;
      if (s[i] == ')' && --depth == 0) break;
    }
    open = s.find('{', i);
    if (open == std::string_view::npos) return {};
  }
  const size_t close = closing_brace(s, open);
  if (close == std::string_view::npos) return {};
  size_t begin = line_start(s, at);
  // CUDA: the comment lines right above the signature go with it.
  while (language == KernelLanguage::Cuda && begin > 0) {
    const size_t prev = line_start(s, begin - 1);
    const std::string_view line = s.substr(prev, begin - prev);
    if (line.find_first_not_of(" \t") == std::string_view::npos || line.substr(line.find_first_not_of(" \t"), 2) != "//")
      break;
    begin = prev;
  }
  size_t end = close + 1;
  if (end < s.size() && s[end] == '\n') ++end;
  return {begin, end};
}

}  // namespace aprc::verify
