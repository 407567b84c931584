// An aprc module as the MLIR-free parts of aprc see it: something to build, parse, print, hand to
// the interpreter or to the passes. Owns its MLIRContext. The MLIR classes behind it are in
// "aprc/ir/module_impl.h", for the few translation units that work on the IR itself.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace aprc::ir {

class Module {
 public:
  struct Impl;
  explicit Module(std::unique_ptr<Impl> impl);
  Module(Module&&) noexcept;
  Module& operator=(Module&&) noexcept;
  ~Module();

  // The textual IR. With `locations`, each op's name is printed (as a `loc(#locN)` alias, the
  // aliases listed at the end), which is what `aprc compile --emit ir` and the plan store.
  std::string print(bool locations = true) const;

  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// Parses and verifies textual aprc IR. Errors are BadInput: "NAME:LINE:COL: message".
Module parse_module(std::string_view text, const std::string& name);

}  // namespace aprc::ir
