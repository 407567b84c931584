// Small synthetic Qwen2-shaped models with random weights in any mix of encodings, for the IR and
// interpreter tests (no model file needed): normal values of about 1/sqrt(in), quantized by
// formats/, so that activations stay near unit scale through the layers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <vector>

#include "aprc/model.h"

namespace aprc::testing {

struct TestModelSpec {
  int64_t hidden = 256;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t head_dim = 64;
  int64_t intermediate = 512;
  int64_t vocab = 301;
  int64_t max_positions = 64;
  bool tied = false;
  bool qkv_biases = true;
  DType embed = DType::Q4_K, q = DType::Q8_0, k = DType::Q5_0, v = DType::Q6_K, o = DType::Q4_K;
  DType gate = DType::Q5_K, up = DType::AprQ4, down = DType::Q6_K, lm_head = DType::Q8_0;
  DType norm = DType::F32, bias = DType::F32;
  uint32_t seed = 1;
};

// The Model and the bytes its tensors view.
struct TestModel {
  Model model;
  std::vector<std::vector<uint8_t>> storage;
};

std::unique_ptr<TestModel> make_test_model(const TestModelSpec& spec);

// `n` token ids drawn uniformly from [0, vocab).
std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed);

// A [rows, cols] tensor of `dtype` holding normal values of standard deviation `magnitude`.
std::vector<uint8_t> random_tensor(DType dtype, int64_t rows, int64_t cols, float magnitude, uint32_t seed);

// `model` with each tensor whose name matches `which` replaced by `convert(tensor)`, of `dtype`
// (the bytes are kept in the result; the other tensors still view `model`'s storage).
std::unique_ptr<TestModel> with_tensors_replaced(const Model& model, const std::regex& which, DType dtype,
                                                 const std::function<std::vector<uint8_t>(const TensorRef&)>& convert);

}  // namespace aprc::testing
