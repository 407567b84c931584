// A small command-line parser shared by every aprc subcommand: positionals, `--key value`,
// `--key=value` and boolean `--flag`s. Unknown flags and missing values are usage errors (exit 2).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace aprc::cli {

class Args {
 public:
  // `value_flags` take a value; `bool_flags` do not. Anything else starting with "--" is an error.
  Args(std::string command, int argc, char** argv, std::set<std::string> value_flags,
       std::set<std::string> bool_flags);

  const std::vector<std::string>& positionals() const { return positionals_; }
  // The i-th positional, or a usage error naming `what`.
  const std::string& positional(size_t i, const char* what) const;
  void expect_positionals(size_t min, size_t max) const;

  bool flag(const std::string& name) const { return bools_.count(name) != 0; }
  std::optional<std::string> value(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& fallback) const;
  int64_t int_or(const std::string& name, int64_t fallback) const;
  double double_or(const std::string& name, double fallback) const;

 private:
  std::string command_;
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;
  std::set<std::string> bools_;
};

// Parses "1,2,3" into ids; a usage error names the flag on a bad element.
std::vector<int64_t> parse_id_list(const std::string& text, const std::string& flag);

}  // namespace aprc::cli
