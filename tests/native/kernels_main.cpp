// A Python-free driver of the compiled kernels: runs every element-wise loss
// (regression, classification) and cross_entropy on fixed inputs, value and
// gradient in one pass, and prints each result's bits (value as %a, the
// gradient as an FNV-1a hash of its bytes). scripts/cross-check.sh builds it
// for x86-64 baseline and for arm64 (NEON) and compares the two outputs: the
// same bits on both architectures, since every kernel is written without
// FMA contraction (-ffp-contract=off) and with fastloss's own exp/log.
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fastloss/api/classification.hpp"
#include "fastloss/api/multiclass.hpp"
#include "fastloss/api/regression.hpp"

using namespace fastloss;

namespace {

// Deterministic inputs without <random> (whose distributions differ by library).
struct Lcg {
  uint64_t s;
  double next() {  // in [0, 1)
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s >> 11) * (1.0 / 9007199254740992.0);
  }
};

uint64_t fnv(const void* p, size_t bytes) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ c[i]) * 1099511628211ULL;
  return h;
}

template <class T>
void elementwise(const char* family, int id, double (*run)(int, const ElemArgs&),
                 int64_t n) {
  Lcg g{12345};
  std::vector<T> p(n), y(n), w(n), aux(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = static_cast<T>(g.next() * 0.98 + 0.01);  // in (0, 1): valid everywhere
    y[i] = static_cast<T>(g.next() < 0.5 ? 0.0 : 1.0);
    w[i] = static_cast<T>(0.5 + g.next());
    aux[i] = static_cast<T>(0.5 + g.next());
  }
  ElemArgs a;
  a.dtype = sizeof(T) == 4 ? DType::f32 : DType::f64;
  a.op = Op::value_grad;
  a.reduction = Reduction::mean;
  a.n = n;
  a.pred = p.data();
  a.target = y.data();
  a.weight = w.data();
  a.out_grad = grad.data();
  a.params[0] = 1.5;  // delta / beta / quantile(<1 below) / power ...
  a.params[1] = 0.0;
  a.params[2] = 1e-6;
  if (std::strcmp(family, "regression") == 0) {
    if (id == 5) a.params[0] = 0.3;                 // quantile
    if (id == 8) a.params[0] = 1.0;                 // poisson: log_input
    if (id == 9) { a.params[0] = 1e-6; a.aux = aux.data(); }  // gaussian_nll: eps, var
    if (id == 10) { a.params[0] = 1.5; a.params[1] = 1.0; }  // tweedie, log link
  } else {
    if (id == 4) { a.params[0] = 0.25; a.params[1] = 2.0; }  // focal alpha, gamma
    if (id == 2 || id == 3) {                                 // hinge labels +-1
      for (auto& v : y) v = v > 0 ? T(1) : T(-1);
      for (auto& v : p) v = v * T(4) - T(2);
    }
    if (id == 1) for (auto& v : p) v = v * T(40) - T(20);     // logits
  }
  const double v = run(id, a);
  std::printf("%s/%d/%s value %a grad %016" PRIx64 "\n", family, id,
              sizeof(T) == 4 ? "f32" : "f64", v, fnv(grad.data(), grad.size() * sizeof(T)));
}

template <class T>
void cross_entropy(int64_t rows, int64_t C) {
  Lcg g{777};
  std::vector<T> z(rows * C), grad(rows * C);
  std::vector<int64_t> lab(rows);
  for (auto& v : z) v = static_cast<T>(g.next() * 20.0 - 10.0);
  for (auto& v : lab) v = static_cast<int64_t>(g.next() * static_cast<double>(C));
  RowArgs a;
  a.dtype = sizeof(T) == 4 ? DType::f32 : DType::f64;
  a.op = Op::value_grad;
  a.rows = rows;
  a.classes = C;
  a.pred = z.data();
  a.labels = lab.data();
  a.out_grad = grad.data();
  a.params[0] = 0.1;  // label smoothing
  const double v = multiclass(MulticlassLoss::cross_entropy, a);
  std::printf("cross_entropy/%" PRId64 "x%" PRId64 "/%s value %a grad %016" PRIx64 "\n", rows, C,
              sizeof(T) == 4 ? "f32" : "f64", v, fnv(grad.data(), grad.size() * sizeof(T)));
}

double reg(int id, const ElemArgs& a) { return regression(static_cast<RegressionLoss>(id), a); }
double cls(int id, const ElemArgs& a) {
  return classification(static_cast<ClassificationLoss>(id), a);
}

}  // namespace

int main() {
  const int64_t n = 100003;  // several blocks, a ragged tail
  for (int id = 0; id <= 10; ++id) {
    elementwise<float>("regression", id, reg, n);
    elementwise<double>("regression", id, reg, n);
  }
  for (int id = 0; id <= 4; ++id) {
    elementwise<float>("classification", id, cls, n);
    elementwise<double>("classification", id, cls, n);
  }
  cross_entropy<float>(5000, 10);
  cross_entropy<double>(5000, 10);
  cross_entropy<float>(50, 1000);
  cross_entropy<double>(50, 1000);
  return 0;
}
