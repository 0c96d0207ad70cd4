// Ranking kernels for one ISA level (compiled once per level).
#include "fastloss/api/ranking.hpp"

#include <stdexcept>
#include <vector>

#include "fastloss/ranking.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using ranking_detail::ApproxNdcg;
using ranking_detail::Laned;
using ranking_detail::ListNet;
using ranking_detail::ListsBase;
using ranking_detail::Pair;
using ranking_detail::PairLists;

// inputs (scores, labels, mask?), n_lists * list_size elements each (mask:
// int64, optional); dims (n_lists, list_size); the gradient is the scores'.
template <template <class> class S>
double run_lists(const TensorArgs& a) {
  const int64_t n = a.dims[0], L = a.dims[1];
  const TensorInput expect[] = {{"scores", n * L}, {"labels", n * L}, {"mask", n * L, true, false}};
  check_tensor_layout(a, expect, 2, n);
  if (a.out_grad[1] != nullptr) tensor_fail("labels: not differentiable");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    S<T> s;
    ListsBase<T>& base = s;
    base = ListsBase<T>{tin<T>(a, 0), tin<T>(a, 1), tin<int64_t>(a, 2), tgrad<T>(a, 0), L};
    s.set_params(a);
    SampleRun<T> run = sample_run<T>(a);
    if (run.reduction != Reduction::mean || n == 0) return per_sample(s, run);
    // rax's reduce_fn=jnp.mean: the sum over the batch's valid pairs (or
    // lists with a valid item) divided by their number, each list's count
    // weighted by its sample_weight; 0 where there is none (rax's
    // safe_reduce), NaN for a zero weight sum over some. The driver runs the
    // sum (its gradient scale: the weights) and records the counts; the
    // division follows, the counts summed in list order (the same bits for
    // any thread count).
    std::vector<double> counts(static_cast<size_t>(n));
    base.count = counts.data();
    run.reduction = Reduction::sum;
    const double total = per_sample(s, run);
    double den = 0.0, raw = 0.0;
    for (int64_t r = 0; r < n; ++r) {
      const double c = counts[static_cast<size_t>(r)];
      raw += c;
      den += run.weight != nullptr ? static_cast<double>(run.weight[r]) * c : c;
    }
    const double f = raw == 0.0 ? 0.0 : 1.0 / den;
    T* g = tgrad<T>(a, 0);
    if (g != nullptr && needs_grad(run.op)) {
      const int64_t m = n * L;
      for (int64_t k = 0; k < m; ++k) g[k] = static_cast<T>(static_cast<double>(g[k]) * f);
    }
    return raw == 0.0 ? 0.0 : total / den;
  });
}

template <class T, Pair P>
struct PairsOf : Laned<PairLists<T, P>> {
  void set_params(const TensorArgs&) {}
};
template <class T>
using Logistic = PairsOf<T, Pair::logistic>;
template <class T>
using Hinge = PairsOf<T, Pair::hinge>;
template <class T>
using Lambda = PairsOf<T, Pair::lambda>;
template <class T>
struct ListNetOf : ListNet<T> {
  void set_params(const TensorArgs&) {}
};
template <class T>
struct ApproxNdcgOf : Laned<ApproxNdcg<T>> {
  void set_params(const TensorArgs& a) {
    const double t = a.params[0];
    if (!(t > 0.0)) tensor_fail("temperature must be > 0");
    this->inv_temp = static_cast<T>(1.0 / t);
  }
};

}  // namespace

double ranking_kernel(RankingLoss id, const TensorArgs& a) {
  if (a.n_dims != 2) throw std::invalid_argument("ranking: dims (n_lists, list_size) expected");
  switch (id) {
    case RankingLoss::pairwise_logistic: return run_lists<Logistic>(a);
    case RankingLoss::pairwise_hinge: return run_lists<Hinge>(a);
    case RankingLoss::listnet: return run_lists<ListNetOf>(a);
    case RankingLoss::approx_ndcg: return run_lists<ApproxNdcgOf>(a);
    case RankingLoss::lambda_rank: return run_lists<Lambda>(a);
  }
  throw std::invalid_argument("unknown ranking loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
