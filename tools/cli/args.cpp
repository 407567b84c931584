#include "args.h"

#include <charconv>

#include "aprc/error.h"

namespace aprc::cli {

Args::Args(std::string command, int argc, char** argv, std::set<std::string> value_flags,
           std::set<std::string> bool_flags)
    : command_(std::move(command)) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string key = a.substr(2), val;
      bool has_inline = false;
      if (auto eq = key.find('='); eq != std::string::npos) {
        val = key.substr(eq + 1);
        key = key.substr(0, eq);
        has_inline = true;
      }
      if (value_flags.count(key)) {
        if (!has_inline) {
          if (i + 1 >= argc) throw_bad_input("aprc " + command_ + ": --" + key + " needs a value");
          val = argv[++i];
        }
        values_[key] = val;
      } else if (bool_flags.count(key) && !has_inline) {
        bools_.insert(key);
      } else {
        throw_bad_input("aprc " + command_ + ": unknown option --" + key + " (see aprc " + command_ + " --help)");
      }
    } else if (a == "-o" && value_flags.count("o")) {
      if (i + 1 >= argc) throw_bad_input("aprc " + command_ + ": -o needs a value");
      values_["o"] = argv[++i];
    } else if (a == "-n" && value_flags.count("n")) {
      if (i + 1 >= argc) throw_bad_input("aprc " + command_ + ": -n needs a value");
      values_["n"] = argv[++i];
    } else {
      positionals_.push_back(a);
    }
  }
}

const std::string& Args::positional(size_t i, const char* what) const {
  if (i >= positionals_.size()) throw_bad_input("aprc " + command_ + ": missing " + what);
  return positionals_[i];
}

void Args::expect_positionals(size_t min, size_t max) const {
  if (positionals_.size() < min || positionals_.size() > max)
    throw_bad_input("aprc " + command_ + ": expected " + std::to_string(min) +
                    (min == max ? "" : " to " + std::to_string(max)) + " arguments, got " +
                    std::to_string(positionals_.size()) + " (see aprc " + command_ + " --help)");
}

std::optional<std::string> Args::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Args::value_or(const std::string& name, const std::string& fallback) const {
  return value(name).value_or(fallback);
}

int64_t Args::int_or(const std::string& name, int64_t fallback) const {
  auto v = value(name);
  if (!v) return fallback;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size())
    throw_bad_input("aprc " + command_ + ": --" + name + " expects an integer, got '" + *v + "'");
  return out;
}

double Args::double_or(const std::string& name, double fallback) const {
  auto v = value(name);
  if (!v) return fallback;
  try {
    size_t used = 0;
    double d = std::stod(*v, &used);
    if (used == v->size()) return d;
  } catch (const std::exception&) {
  }
  throw_bad_input("aprc " + command_ + ": --" + name + " expects a number, got '" + *v + "'");
}

std::vector<int64_t> parse_id_list(const std::string& text, const std::string& flag) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(start, end - start);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v < 0)
      throw_bad_input(flag + ": expected comma-separated token ids, got '" + part + "'");
    ids.push_back(v);
    start = end + 1;
  }
  return ids;
}

}  // namespace aprc::cli
