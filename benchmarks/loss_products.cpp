// The three products of a sampled-softmax call, timed alone with the loss
// kernels' own GEMM (kernels/loss.hpp) at the shapes and layouts
// sampled_loss.cpp gives them (B = 1024, D = 128, S sampled columns, 1 thread):
//
//   logits  L = X Ws^T     (Ws^T packed in panels, 48-row batch tiles)
//   dX      dX = G Ws      (Ws read as rows, or as column panels: "packed")
//   dW      dW = G^T X     (G read in place, or each block copied first;
//                           X read as rows, or as column panels: "packed")
//
// Rates in GFLOP/s (2 B S D flops per product), best of `reps`. Used to find
// which product holds a call back (benchmarks/RESULTS.md, issue 10).
//
//   g++ -O2 -std=c++17 -Isrc/cpp benchmarks/loss_products.cpp -Lbuild/dev/src/cpp
//       -lpysampled_core -Wl,-rpath,$PWD/build/dev/src/cpp -o /tmp/loss_products
//   /tmp/loss_products 512 200    # S, repetitions
//
// (build/dev: the build directory of `pip install --no-build-isolation
// -Cbuild-dir=build/dev .`, which keeps libpysampled_core.so there.)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "pysampled/kernels/loss.hpp"

using namespace pysampled;

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  const LossKernels<float>& k = loss_kernels<float>(active_isa());
  const int64_t B = 1024, D = 128, S = argc > 1 ? std::atoll(argv[1]) : 512;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 100;
  const int64_t NR = k.panel_width, ldl = S + 1, tile = 48, kc = 256, stile = 48;
  const int64_t panels_s = (S + NR - 1) / NR, panels_d = (D + NR - 1) / NR;
  std::vector<float> X(B * D), W(S * D), P(panels_s * NR * D, 0.0f), L(B * ldl), DX(B * D), DW(S * D);
  std::vector<float> Wc(panels_d * S * NR), Xc(panels_d * B * NR), blk(kc * stile);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (auto& v : X) v = nd(rng);
  for (auto& v : W) v = nd(rng);
  for (auto& v : L) v = 0.01f * nd(rng);
  for (int64_t j = 0; j < S; ++j)
    for (int64_t d = 0; d < D; ++d) P[(j / NR) * D * NR + d * NR + j % NR] = W[j * D + d];
  for (int64_t p = 0; p < panels_d; ++p)
    for (int64_t c = 0; c < NR && p * NR + c < D; ++c) {
      for (int64_t i = 0; i < S; ++i) Wc[(p * S + i) * NR + c] = W[i * D + p * NR + c];
      for (int64_t i = 0; i < B; ++i) Xc[(p * B + i) * NR + c] = X[i * D + p * NR + c];
    }
  const float* G = L.data() + 1;  // dLoss/dlogits of the sampled columns, rows ldl apart
  auto dw = [&](bool copy, const float* Xb, int64_t ldx, int64_t xps) {
    for (int64_t j0 = 0; j0 < S; j0 += stile) {
      const int64_t ms = std::min(stile, S - j0);
      for (int64_t k0 = 0; k0 < B; k0 += kc) {
        // G's block of kc rows x ms columns, read in place or from a copy
        if (copy) {
          for (int64_t i = 0; i < kc; ++i) {
            const float* src = G + (k0 + i) * ldl + j0;
            std::copy(src, src + ms, blk.data() + i * ms);
          }
        }
        k.gemm(ms, D, kc, copy ? blk.data() : G + k0 * ldl + j0, 1, copy ? ms : ldl, Xb + k0 * ldx, ldx,
               xps, DW.data() + j0 * D, D, k0 > 0);
      }
    }
  };
  struct Case {
    const char* name;
    std::function<void()> run;
  };
  const Case cases[] = {
      {"logits", [&] {
         for (int64_t r0 = 0; r0 < B; r0 += tile)
           k.gemm(std::min(tile, B - r0), S, D, X.data() + r0 * D, D, 1, P.data(), NR, D * NR,
                  L.data() + r0 * ldl + 1, ldl, false);
       }},
      {"dX, Ws as rows", [&] {
         for (int64_t r0 = 0; r0 < B; r0 += tile)
           for (int64_t k0 = 0; k0 < S; k0 += kc)
             k.gemm(std::min(tile, B - r0), D, std::min(kc, S - k0), G + r0 * ldl + k0, ldl, 1,
                    W.data() + k0 * D, D, NR, DX.data() + r0 * D, D, k0 > 0);
       }},
      {"dX, Ws packed", [&] {
         for (int64_t r0 = 0; r0 < B; r0 += tile)
           for (int64_t k0 = 0; k0 < S; k0 += kc)
             k.gemm(std::min(tile, B - r0), D, std::min(kc, S - k0), G + r0 * ldl + k0, ldl, 1,
                    Wc.data() + k0 * NR, NR, S * NR, DX.data() + r0 * D, D, k0 > 0);
       }},
      {"dW, G in place, X rows", [&] { dw(false, X.data(), D, NR); }},
      {"dW, G copied, X rows", [&] { dw(true, X.data(), D, NR); }},
      {"dW, G in place, X packed", [&] { dw(false, Xc.data(), NR, B * NR); }},
      {"dW, G copied, X packed", [&] { dw(true, Xc.data(), NR, B * NR); }},
  };
  std::printf("S = %lld, B = %lld, D = %lld, 1 thread, SIMD level %s\n", static_cast<long long>(S),
              static_cast<long long>(B), static_cast<long long>(D), isa_name(active_isa()));
  for (const Case& c : cases) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now();
      c.run();
      best = std::min(best, now() - t0);
    }
    std::printf("  %-26s %8.3f ms %7.1f GFLOP/s\n", c.name, best * 1e3, 2.0 * B * S * D / best / 1e9);
  }
  return 0;
}
