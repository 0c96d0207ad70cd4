// Auxiliary and regularization kernels for one ISA level (compiled once per
// level).
#include "fastloss/api/regularization.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <vector>

#include "fastloss/regularization.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace reg;
using R = RegularizationLoss;

int64_t checked_product(int64_t a, int64_t b, const char* what) {
  if (a < 0 || b < 0 || (a > 0 && b > INT64_MAX / a)) tensor_fail(std::string(what) + ": size overflows");
  return a * b;
}

// (w,): dims (n); params (a, b): a |w| + b w^2 / 2 per weight
double penalty(const TensorArgs& a) {
  const int64_t n = a.dims[0];
  const TensorInput expect[] = {{"w", n}};
  check_tensor_layout(a, expect, 1, n);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const Penalty<T> rule{static_cast<T>(a.params[0]), static_cast<T>(a.params[1])};
    return point_part<T>(a, 0, 0, n, rule);
  });
}

// (logits,): dims (rows, C)
template <bool kZ>
double softmax_rows(const TensorArgs& a) {
  const int64_t rows = a.dims[0], C = a.n_dims > 1 ? a.dims[1] : -1;
  const TensorInput expect[] = {{"logits", checked_product(rows, C, "logits")}};
  check_tensor_layout(a, expect, 2, rows);
  if (C < 1 && rows > 0) tensor_fail("logits: at least one class");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    return per_sample(SoftmaxRows<T, kZ>{tin<T>(a, 0), tgrad<T>(a, 0), C}, sample_run<T>(a));
  });
}

// (features, labels, centers): dims (N, D, K). The centers' gradient is
// -sum over each class's samples of the features' gradient, summed in
// sample order after the parallel pass (the same bits on any schedule).
double center(const TensorArgs& a) {
  const int64_t N = a.dims[0], D = a.n_dims > 1 ? a.dims[1] : -1, K = a.n_dims > 2 ? a.dims[2] : -1;
  const TensorInput expect[] = {{"features", checked_product(N, D, "features")},
                                {"labels", N, true},
                                {"centers", checked_product(K, D, "centers")}};
  check_tensor_layout(a, expect, 3, N);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    T* gx = tgrad<T>(a, 0);
    T* gc = tgrad<T>(a, 2);
    std::unique_ptr<T[]> tmp;
    if (gc != nullptr && gx == nullptr) {
      tmp.reset(new T[static_cast<size_t>(N * D)]);
      gx = tmp.get();
    }
    SampleRun<T> run = sample_run<T>(a);
    if (gx == nullptr && needs_grad(run.op)) run.op = Op::value;  // no gradient asked here
    const Center<T> s{tin<T>(a, 0), tin<int64_t>(a, 1), tin<T>(a, 2), gx, D, K};
    const double v = per_sample(s, run);
    if (gc != nullptr && needs_grad(a.op)) {
      for (int64_t k = 0; k < K * D; ++k) gc[k] = T(0);
      const int64_t* y = tin<int64_t>(a, 1);
      for (int64_t i = 0; i < N; ++i) {
        T* FL_RESTRICT c = gc + y[i] * D;
        const T* FL_RESTRICT gi = gx + i * D;
        FL_SIMD
        for (int64_t k = 0; k < D; ++k) c[k] -= gi[k];
      }
    }
    return v;
  });
}

// A loss with one value per call (orthogonality, moe_load_balancing): its
// factor from a (scalar) sample weight w under the reduction -- w for "sum"
// and "none", w / w for "mean" -- which multiplies the value and gradient.
inline double single_factor(const TensorArgs& a) {
  if (a.weight == nullptr) return 1.0;
  const double w = a.dtype == DType::f32 ? static_cast<const float*>(a.weight)[0]
                                         : static_cast<const double*>(a.weight)[0];
  return a.reduction == Reduction::mean ? w / w : w;
}

template <class T>
double single(const TensorArgs& a, double v) {
  v *= single_factor(a);
  if (a.out_value != nullptr) static_cast<T*>(a.out_value)[0] = static_cast<T>(v);
  return v;
}

// (W,): dims (r, c). ||W W^T - I||_F^2 over the smaller Gram: G = W W^T when
// r <= c, else W^T W; gradient 4 (G - I) W, or 4 W (G - I) (reg::gram: both
// products on the tile microkernel, float64, the same bits on any thread
// count and ISA level).
double orthogonality(const TensorArgs& a) {
  const int64_t r = a.dims[0], c = a.n_dims > 1 ? a.dims[1] : -1;
  const TensorInput expect[] = {{"W", checked_product(r, c, "W")}};
  check_tensor_layout(a, expect, 2, 1);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    using gram::P;
    const T* W = tin<T>(a, 0);
    const bool rows = r <= c;        // Gram of the rows (r x r) or of the columns (c x c)
    const int64_t m = rows ? r : c;  // Gram size
    T* g = tgrad<T>(a, 0);
    const bool grad = g != nullptr && needs_grad(a.op);
    double v = 0.0;
    if (m > 0) {
      const int64_t np = (m + P - 1) / P;
      const tiles::Buffer<double> A(np * gram::chunk_k(np * P) * P);  // a chunk of the panels
      const tiles::Buffer<double> M(np * gram::gram_rows(m) * P), rowsq(m);  // G - I
      v = gram::gram(W, r, c, rows, A.get(), M.get(), rowsq.get(), a.n_threads);
      if (grad) gram::product(W, r, c, rows, M.get(), 4.0 * single_factor(a), g, a.n_threads);
    }
    return single<T>(a, needs_value(a.op) ? v : 0.0);
  });
}

// (activations,): dims (N, J); params (rho). Sum over units of KL(rho ||
// mean activation), one sample per unit. An activation outside [0, 1] (NaN
// is not) is found in the column sums' pass: InvalidElement with the first
// such flat index, unless a NaN is anywhere (NaN in, NaN out), before any
// output is written; the Python layer words the message.
double kl_sparsity(const TensorArgs& a) {
  const int64_t N = a.dims[0], J = a.n_dims > 1 ? a.dims[1] : -1;
  const TensorInput expect[] = {{"activations", checked_product(N, J, "activations")}};
  check_tensor_layout(a, expect, 2, J);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T* x = tin<T>(a, 0);
    // column sums in row order, one float64 accumulator per unit: columns
    // in tiles of kKlCols, a tile to a thread (each sum is the same
    // sequence of additions on any thread count), four rows an accumulator
    // load and store, added in row order; the range test rides along. One
    // thread over all columns, a load and store a value, after NumPy's min
    // and max in the Python layer (two more passes) took 0.46 ms on 4096 x
    // 256 float32 (torch's two column means 0.40).
    constexpr int64_t kKlCols = 64;
    std::vector<double> q(static_cast<size_t>(J), 0.0);
    const int64_t tiles = (J + kKlCols - 1) / kKlCols;
    std::vector<char> outside(static_cast<size_t>(tiles), 0);
    const int nt = threads_for(N * J, tiles, a.n_threads);
    auto out_of_range = [](T v) { return (v < T(0)) | (v > T(1)); };
    detail::tasks_for<false>(tiles, nt, [&](int64_t t, int) {
      const int64_t j0 = t * kKlCols, nj = std::min(kKlCols, J - j0);
      double* FL_RESTRICT acc = q.data() + j0;
      int bad = 0;
      int64_t i = 0;
      for (; i + 4 <= N; i += 4) {
        const T* FL_RESTRICT r0 = x + i * J + j0;
        const T* FL_RESTRICT r1 = r0 + J;
        const T* FL_RESTRICT r2 = r1 + J;
        const T* FL_RESTRICT r3 = r2 + J;
        FL_PRAGMA(omp simd reduction(| : bad))
        for (int64_t j = 0; j < nj; ++j) {
          bad |= out_of_range(r0[j]) | out_of_range(r1[j]) | out_of_range(r2[j]) |
                 out_of_range(r3[j]);
          acc[j] = (((acc[j] + static_cast<double>(r0[j])) + static_cast<double>(r1[j])) +
                    static_cast<double>(r2[j])) +
                   static_cast<double>(r3[j]);
        }
      }
      for (; i < N; ++i) {
        const T* FL_RESTRICT row = x + i * J + j0;
        FL_PRAGMA(omp simd reduction(| : bad))
        for (int64_t j = 0; j < nj; ++j) {
          bad |= out_of_range(row[j]);
          acc[j] += static_cast<double>(row[j]);
        }
      }
      outside[static_cast<size_t>(t)] = bad != 0;
    });
    if (std::find(outside.begin(), outside.end(), 1) != outside.end()) {
      // the error's path, serial: NaN anywhere propagates instead
      const int64_t n = N * J;
      bool nan = false;
      for (int64_t k = 0; k < n && !nan; ++k) nan = x[k] != x[k];
      if (!nan) {
        for (int64_t k = 0; k < n; ++k)
          if (out_of_range(x[k])) throw InvalidElement(k);
      }
    }
    for (double& v : q) v /= static_cast<double>(N);
    return per_sample(KlUnits<T>{q.data(), tgrad<T>(a, 0), N, J, a.params[0]}, sample_run<T>(a));
  });
}

// (router_probs, expert_index): dims (N, E, k). Switch Transformer:
// E * sum_e f_e P_e, f_e the tokens routed to e over N (k slots each),
// P_e the mean probability of e; gradient E f_e / N.
double moe(const TensorArgs& a) {
  const int64_t N = a.dims[0], E = a.n_dims > 1 ? a.dims[1] : -1, k = a.n_dims > 2 ? a.dims[2] : -1;
  const TensorInput expect[] = {{"router_probs", checked_product(N, E, "router_probs")},
                                {"expert_index", checked_product(N, k, "expert_index"), true}};
  check_tensor_layout(a, expect, 3, 1);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T* p = tin<T>(a, 0);
    const int64_t* idx = tin<int64_t>(a, 1);
    std::vector<double> f(static_cast<size_t>(E), 0.0), P(static_cast<size_t>(E), 0.0);
    for (int64_t i = 0; i < N * k; ++i) {
      if (idx[i] < 0 || idx[i] >= E)
        tensor_fail("expert_index: " + std::to_string(idx[i]) + " at flat index " +
                    std::to_string(i) + " is out of range [0, " + std::to_string(E) + ")");
      f[static_cast<size_t>(idx[i])] += 1.0;
    }
    for (int64_t i = 0; i < N; ++i) {
      const T* FL_RESTRICT row = p + i * E;
      double* FL_RESTRICT acc = P.data();
      FL_SIMD
      for (int64_t e = 0; e < E; ++e) acc[e] += static_cast<double>(row[e]);
    }
    const double n = static_cast<double>(N);
    double v = 0.0;
    for (int64_t e = 0; e < E; ++e) v += (f[e] / n) * (P[e] / n);
    v *= static_cast<double>(E);
    T* g = tgrad<T>(a, 0);
    if (g != nullptr && needs_grad(a.op)) {
      const double s = single_factor(a) * static_cast<double>(E) / n;
      for (int64_t i = 0; i < N; ++i) {
        const T* FL_RESTRICT row = p + i * E;
        T* FL_RESTRICT gr = g + i * E;
        // the gradient does not depend on the probabilities; p - p carries a
        // NaN (or inf) input into it, as NaN propagates everywhere
        for (int64_t e = 0; e < E; ++e) gr[e] = static_cast<T>(s * (f[e] / n)) + (row[e] - row[e]);
      }
    }
    return single<T>(a, v);
  });
}

}  // namespace

double regularization_kernel(RegularizationLoss id, const TensorArgs& a) {
  if (a.n_dims < 1) throw std::invalid_argument("regularization: dims missing");
  switch (id) {
    case R::l1_penalty:
    case R::l2_penalty:
    case R::elastic_net: return penalty(a);
    case R::entropy: return softmax_rows<false>(a);
    case R::router_z_loss: return softmax_rows<true>(a);
    case R::center: return center(a);
    case R::orthogonality: return orthogonality(a);
    case R::kl_sparsity: return kl_sparsity(a);
    case R::moe_load_balancing: return moe(a);
  }
  throw std::invalid_argument("unknown regularization loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
