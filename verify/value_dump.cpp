#include "aprc/verify/value_dump.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "aprc/error.h"

namespace aprc::verify {
namespace {

static_assert(std::endian::native == std::endian::little, "value dumps hold little-endian floats");

constexpr char kMagic[8] = {'A', 'P', 'R', 'C', 'V', 'D', 'M', 'P'};

// Records every step's named outputs of one call.
class Recorder final : public StepObserver {
 public:
  Recorder(DumpedCall& call, int64_t vocab) : call_(call), vocab_(vocab) {}
  void after_step(const StepEvent& event) override {
    const Step& st = event.step();
    std::vector<std::string> ops = st.ops;
    if (ops.empty())
      for (const OutputName& out : st.outputs) ops.push_back(out.op);
    for (const OutputName& out : st.outputs) {
      DumpedValue v{out.op, 0, out.cols, static_cast<int64_t>(event.index), st.kernel, ops, {}};
      v.data = read_step_output(event, out, vocab_, v.rows);
      call_.values.push_back(std::move(v));
    }
  }

 private:
  DumpedCall& call_;
  int64_t vocab_;
};

int32_t argmax_last_row(const DumpedCall& c, int64_t vocab) {
  const float* row = c.logits.data() + (c.logits_rows - 1) * vocab;
  return static_cast<int32_t>(std::max_element(row, row + vocab) - row);
}

}  // namespace

std::vector<float> read_step_output(const StepEvent& event, const OutputName& out, int64_t vocab_size, int64_t& rows) {
  const Step& st = event.step();
  rows = out.rows.eval(event.T, event.pos);
  const std::string what = event.function.name + " step " + std::to_string(event.index) + " (kernel " + st.kernel +
                           "): output '" + out.op + "'";
  if (out.arg < 0 || static_cast<size_t>(out.arg) >= st.args.size())
    throw_bad_input(what + " names argument " + std::to_string(out.arg) + " of " + std::to_string(st.args.size()));
  if (rows < 0 || out.cols <= 0 || out.col_offset < 0 || out.col_offset + out.cols > out.row_stride)
    throw_bad_input(what + ": " + std::to_string(rows) + " rows of " + std::to_string(out.cols) + " columns at column " +
                    std::to_string(out.col_offset) + " do not fit rows of " + std::to_string(out.row_stride));
  const Arg& arg = st.args[static_cast<size_t>(out.arg)];
  // The bytes the output spans must lie in the buffer it names (where the engine can tell).
  const int64_t base = arg.offset.eval(event.T, event.pos);
  const int64_t end = base + ((rows - 1) * out.row_stride + out.col_offset + out.cols) * 4;
  int64_t limit = std::numeric_limits<int64_t>::max();
  if (arg.kind == ArgKind::Arena) limit = event.function.arena_bytes;
  if (arg.kind == ArgKind::Logits) limit = event.T * vocab_size * 4;
  if (rows > 0 && (base < 0 || end > limit))
    throw_bad_input(what + " runs past the end of its buffer (" + std::to_string(limit) + " bytes)");

  std::vector<float> value(static_cast<size_t>(rows * out.cols));
  for (int64_t r = 0; r < rows; ++r)
    event.buffers.read(static_cast<size_t>(out.arg), (r * out.row_stride + out.col_offset) * 4,
                       static_cast<size_t>(out.cols) * 4, value.data() + r * out.cols);
  return value;
}

ValueDump record_run(Engine& engine, const Plan& plan, const PlanTarget& target, std::span<const int32_t> prompt,
                     int decode_steps, const std::function<void(std::string_view)>& progress) {
  const Function* prefill = target.function("prefill");
  const Function* decode = target.function("decode");
  if (!prefill || !decode) throw_bad_input(plan.path() + ": the " + target.name + " target lacks a prefill or decode function");
  if (prompt.empty()) throw_bad_input("the prompt has no tokens");
  const int64_t needed = static_cast<int64_t>(prompt.size()) + std::max(0, decode_steps);
  if (needed > engine.context())
    throw_bad_input(plan.path() + ": " + std::to_string(prompt.size()) + " prompt tokens and " + std::to_string(decode_steps) +
                    " decode steps do not fit a context of " + std::to_string(engine.context()));
  ValueDump dump;
  dump.plan_source = plan.manifest().source;
  dump.engine = std::string(engine.kind());
  dump.device = engine.device();
  dump.vocab = plan.manifest().config.vocab_size;
  dump.max_prefill_tokens = prefill->max_tokens;
  dump.prompt.assign(prompt.begin(), prompt.end());

  auto run = [&](const Function& fn, std::vector<int32_t> ids, int64_t pos) {
    DumpedCall& c = dump.calls.emplace_back();
    c.function = fn.name;
    c.pos = pos;
    c.ids = std::move(ids);
    c.logits_rows = fn.name == "prefill" ? static_cast<int64_t>(c.ids.size()) : 1;
    c.logits.resize(static_cast<size_t>(c.logits_rows * dump.vocab));
    if (progress) progress(fn.name + " at position " + std::to_string(pos) + " on " + dump.engine);
    Recorder recorder(c, dump.vocab);
    engine.set_step_observer(&recorder);
    try {
      engine.run(fn, c.ids, pos, c.logits.data());
    } catch (...) {
      engine.set_step_observer(nullptr);
      throw;
    }
    engine.set_step_observer(nullptr);
  };
  for (size_t begin = 0; begin < prompt.size(); begin += static_cast<size_t>(prefill->max_tokens)) {
    const size_t end = std::min(prompt.size(), begin + static_cast<size_t>(prefill->max_tokens));
    run(*prefill, {prompt.begin() + begin, prompt.begin() + end}, static_cast<int64_t>(begin));
  }
  for (int i = 0; i < decode_steps; ++i)
    run(*decode, {argmax_last_row(dump.calls.back(), dump.vocab)}, static_cast<int64_t>(prompt.size()) + i);
  return dump;
}

void write_value_dump(const ValueDump& d, const std::string& path) {
  nlohmann::json calls = nlohmann::json::array();
  uint64_t offset = 0;  // in floats
  std::vector<const std::vector<float>*> blobs;
  auto place = [&](const std::vector<float>& data) {
    blobs.push_back(&data);
    const uint64_t at = offset;
    offset += data.size();
    return at;
  };
  for (const DumpedCall& c : d.calls) {
    nlohmann::json values = nlohmann::json::array();
    const uint64_t logits_at = place(c.logits);
    for (const DumpedValue& v : c.values)
      values.push_back({{"name", v.name}, {"rows", v.rows}, {"cols", v.cols}, {"step", v.step}, {"kernel", v.kernel},
                        {"ops", v.ops}, {"offset", place(v.data)}});
    calls.push_back({{"function", c.function}, {"pos", c.pos}, {"ids", c.ids}, {"logits_rows", c.logits_rows},
                     {"logits_offset", logits_at}, {"values", values}});
  }
  const std::string header = nlohmann::json{{"plan_source", d.plan_source},
                                            {"engine", d.engine},
                                            {"device", d.device},
                                            {"vocab", d.vocab},
                                            {"max_prefill_tokens", d.max_prefill_tokens},
                                            {"prompt", d.prompt},
                                            {"floats", offset},
                                            {"calls", calls}}
                                 .dump();
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  out.write(kMagic, sizeof kMagic);
  out.write(reinterpret_cast<const char*>(&n), sizeof n);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const std::vector<float>* b : blobs)
    out.write(reinterpret_cast<const char*>(b->data()), static_cast<std::streamsize>(b->size() * sizeof(float)));
  if (!out.flush()) throw_bad_input(path + ": cannot write the file");
}

ValueDump read_value_dump(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input(path + ": cannot read the file");
  auto bad = [&](const std::string& why) { throw_bad_input(path + ": not a value dump of aprc record: " + why); };
  char magic[8] = {};
  uint64_t n = 0;
  if (!in.read(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0) bad("wrong magic");
  if (!in.read(reinterpret_cast<char*>(&n), sizeof n) || n > (uint64_t{1} << 32)) bad("no header");
  std::string header(static_cast<size_t>(n), '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(n))) bad("the header is cut short");
  const nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) bad("the header is not JSON");
  ValueDump d;
  std::vector<float> floats;
  try {
    d.plan_source = j.at("plan_source").get<std::string>();
    d.engine = j.at("engine").get<std::string>();
    d.device = j.at("device").get<std::string>();
    d.vocab = j.at("vocab").get<int64_t>();
    d.max_prefill_tokens = j.at("max_prefill_tokens").get<int64_t>();
    d.prompt = j.at("prompt").get<std::vector<int32_t>>();
    const uint64_t count = j.at("floats").get<uint64_t>();
    if (count > (uint64_t{1} << 40)) bad("too many values");
    floats.resize(static_cast<size_t>(count));
    if (!in.read(reinterpret_cast<char*>(floats.data()), static_cast<std::streamsize>(count * sizeof(float))))
      bad("the values are cut short");
    auto take = [&](uint64_t at, int64_t rows, int64_t cols) {
      if (rows < 0 || cols < 0 || at > count || static_cast<uint64_t>(rows * cols) > count - at) bad("a value lies outside the file");
      return std::vector<float>(floats.begin() + static_cast<std::ptrdiff_t>(at),
                                floats.begin() + static_cast<std::ptrdiff_t>(at + static_cast<uint64_t>(rows * cols)));
    };
    if (d.vocab <= 0 || d.max_prefill_tokens <= 0) bad("no vocabulary or prefill size");
    for (const nlohmann::json& c : j.at("calls")) {
      DumpedCall call;
      call.function = c.at("function").get<std::string>();
      call.pos = c.at("pos").get<int64_t>();
      call.ids = c.at("ids").get<std::vector<int32_t>>();
      call.logits_rows = c.at("logits_rows").get<int64_t>();
      call.logits = take(c.at("logits_offset").get<uint64_t>(), call.logits_rows, d.vocab);
      for (const nlohmann::json& v : c.at("values")) {
        DumpedValue value{v.at("name").get<std::string>(), v.at("rows").get<int64_t>(), v.at("cols").get<int64_t>(),
                          v.at("step").get<int64_t>(), v.at("kernel").get<std::string>(),
                          v.at("ops").get<std::vector<std::string>>(), {}};
        value.data = take(v.at("offset").get<uint64_t>(), value.rows, value.cols);
        call.values.push_back(std::move(value));
      }
      d.calls.push_back(std::move(call));
    }
  } catch (const nlohmann::json::exception& e) {
    bad(std::string("the header lacks a field or has one of the wrong type (") + e.what() + ")");
  }
  if (d.calls.empty() || d.prompt.empty()) bad("no calls");
  return d;
}

}  // namespace aprc::verify
