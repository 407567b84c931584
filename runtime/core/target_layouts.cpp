// Which layout each backend's matrix kernels read, per encoding: the one place that maps a target to
// its weight layouts (formats/layouts.h documents every layout). Encodings without a layout of their
// own stay row_major, as do all weights until a backend defines a layout for them.
#include "aprc/formats/layouts.h"

namespace aprc {

WeightLayout preferred_layout(Backend backend, DType dtype) {
  switch (backend) {
    case Backend::Cpu:
      // The CPU Linear kernels read 16 rows per vector (codegen/cpu); other encodings stay row_major.
      return layout_supports(WeightLayout::CpuR16, dtype) ? WeightLayout::CpuR16 : WeightLayout::RowMajor;
    case Backend::Cuda:  // the decode kernels read 16 contiguous bytes a lane (layouts.h)
      switch (dtype) {
        case DType::Q4_K: return WeightLayout::CudaQ4K;
        case DType::Q5_K: return WeightLayout::CudaQ5K;
        case DType::Q6_K: return WeightLayout::CudaQ6K;
        case DType::Q8_0: return WeightLayout::CudaQ8_0;
        case DType::Q5_0: return WeightLayout::CudaQ5_0;
        default: return WeightLayout::RowMajor;
      }
  }
  return WeightLayout::RowMajor;
}

}  // namespace aprc
