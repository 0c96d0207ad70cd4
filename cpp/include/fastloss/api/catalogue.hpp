// fastloss/api/catalogue.hpp -- what each loss is, as data: the one source of truth.
//
// For every loss of the public catalogue: its name and family, the kernel id
// the bindings dispatch on (taken from the family's enum, so no id is typed
// twice), its positional inputs and which are differentiable, its parameters
// (kind, default, bounds, choices), whether it has a Hessian and whether its
// gradient and Hessian are exact, and its input domains where they are
// simple enough to be data. The Python layer reads all of it through
// `_core.catalogue()`; the kernel TUs static_assert that a point functor's
// `has_hess` agrees with the table, so the two cannot drift.
//
// Everything is constexpr (C++17 inline variables): no Python, no
// arithmetic, nothing to initialize at load time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "fastloss/api/boxes.hpp"
#include "fastloss/api/classification.hpp"
#include "fastloss/api/clustering.hpp"
#include "fastloss/api/control.hpp"
#include "fastloss/api/embedding.hpp"
#include "fastloss/api/generative.hpp"
#include "fastloss/api/image.hpp"
#include "fastloss/api/multiclass.hpp"
#include "fastloss/api/overlap.hpp"
#include "fastloss/api/ranking.hpp"
#include "fastloss/api/pairwise.hpp"
#include "fastloss/api/regression.hpp"
#include "fastloss/api/regularization.hpp"
#include "fastloss/api/sequence.hpp"
#include "fastloss/api/robust.hpp"

namespace fastloss {
namespace catalogue {

// One end of an interval; `set == false` means unbounded on that side.
struct Bound {
  bool set = false;
  double value = 0.0;
  bool open = false;
};
constexpr Bound none() { return {}; }
constexpr Bound open(double v) { return {true, v, true}; }
constexpr Bound closed(double v) { return {true, v, false}; }

// How a parameter's value is checked (the Python layer generates the check):
//   real           a finite real in [lo, hi] (open ends where marked), outside
//                  (excl_lo, excl_hi) when `excluded` is set; an end closed
//                  at an infinity admits it (triplet_margin's p = inf)
//   integer        an integer within int64's range
//   boolean        True or False
//   choice         one of `choices`
//   real_or_array  None, a real or an array of reals, each in [lo, hi]
//   optional_array None or an array (checked against the inputs later)
//   axes           None, an int or a tuple of ints (checked against ndim later)
//   reals          a tuple of n_reals finite reals, each in [lo, hi] (of
//                  min_reals to n_reals of them where min_reals is set)
enum class ParamKind : int {
  real, integer, boolean, choice, real_or_array, optional_array, axes, reals
};

struct ParamSpec {
  const char* name;
  ParamKind kind;
  // The default, read by kind: `real_default` (real), `int_default` (integer,
  // and boolean as 0/1), `text_default` (choice); None for the array kinds.
  double real_default = 0.0;
  int64_t int_default = 0;
  const char* text_default = nullptr;
  Bound lo = {};
  Bound hi = {};
  const char* const* choices = nullptr;
  int n_choices = 0;
  // reals: the default tuple, and the fewest values accepted (0: exactly n_reals)
  const double* reals_default = nullptr;
  int n_reals = 0;
  int min_reals = 0;
  // An excluded open interval (excl_lo, excl_hi) and why (tweedie's power).
  bool excluded = false;
  double excl_lo = 0.0;
  double excl_hi = 0.0;
  const char* excl_reason = nullptr;
};

constexpr ParamSpec real_param(const char* name, double def, Bound lo = {}, Bound hi = {}) {
  ParamSpec p{name, ParamKind::real};
  p.real_default = def;
  p.lo = lo;
  p.hi = hi;
  return p;
}
constexpr ParamSpec int_param(const char* name, int64_t def) {
  ParamSpec p{name, ParamKind::integer};
  p.int_default = def;
  return p;
}
constexpr ParamSpec bool_param(const char* name, bool def) {
  ParamSpec p{name, ParamKind::boolean};
  p.int_default = def ? 1 : 0;
  return p;
}
template <std::size_t N>
constexpr ParamSpec choice_param(const char* name, const char* const (&choices)[N]) {
  ParamSpec p{name, ParamKind::choice};
  p.text_default = choices[0];  // the first choice is the default
  p.choices = choices;
  p.n_choices = static_cast<int>(N);
  return p;
}
template <std::size_t N>
constexpr ParamSpec reals_param(const char* name, const double (&def)[N], Bound lo = {},
                                int min_n = 0) {
  ParamSpec p{name, ParamKind::reals};
  p.reals_default = def;
  p.n_reals = static_cast<int>(N);
  p.min_reals = min_n;
  p.lo = lo;
  return p;
}
constexpr ParamSpec array_param(const char* name, ParamKind kind, Bound lo = {}) {
  ParamSpec p{name, kind};
  p.lo = lo;
  return p;
}

// A positional input; `grad_kernel` is the kernel id that computes its
// gradient (-1: not differentiable). gaussian_nll's var is differentiated by
// a kernel of its own (RegressionLoss::gaussian_nll_var).
// `on_request`: differentiable, but its gradient is computed only when a
// call names it (wrt=): a floating target whose derivative PyTorch gives
// (poisson_nll, kl_div, the binary cross-entropies, multilabel_soft_margin,
// probability-target cross_entropy, margin_ranking's y, and the target of a
// loss of pred - target). It is not in the loss's default wrt, so such a loss
// keeps returning one array.
struct InputSpec {
  const char* name;
  int grad_kernel = -1;
  bool optional = false;  // may be left out (None): pinn's boundary and data
  bool on_request = false;
};

// Where an input's values must lie, as data:
//   interval  in [lo, hi] (open ends where marked)
//   values    one of `values`
//   rule      a domain that depends on parameters or other inputs, named by
//             `rule` and worded by the Python layer
// `checked_by_kernel`: the kernel checks it in its own pass (PointLoss::invalid)
// and reports the first bad flat index; otherwise the Python layer checks it
// before the kernel runs. `noun` words the subject of the message
// ("probabilities"; empty: "every value of <input>"), `reason` the why.
enum class DomainKind : int { interval, values, rule };

struct DomainSpec {
  const char* input;
  DomainKind kind;
  Bound lo = {};
  Bound hi = {};
  const double* values = nullptr;
  int n_values = 0;
  const char* rule = nullptr;
  const char* noun = "";
  const char* reason = "";
  bool checked_by_kernel = true;
};

constexpr DomainSpec interval(const char* input, Bound lo, Bound hi, const char* noun,
                              const char* reason, bool by_kernel = true) {
  DomainSpec d{input, DomainKind::interval};
  d.lo = lo;
  d.hi = hi;
  d.noun = noun;
  d.reason = reason;
  d.checked_by_kernel = by_kernel;
  return d;
}
template <std::size_t N>
constexpr DomainSpec one_of(const char* input, const double (&values)[N], const char* noun,
                            const char* reason) {
  DomainSpec d{input, DomainKind::values};
  d.values = values;
  d.n_values = static_cast<int>(N);
  d.noun = noun;
  d.reason = reason;
  return d;
}
constexpr DomainSpec rule(const char* input, const char* name) {
  DomainSpec d{input, DomainKind::rule};
  d.rule = name;
  return d;
}

struct LossSpec {
  const char* name;
  const char* family;
  int kernel_id;
  const InputSpec* inputs;
  int n_inputs;
  const ParamSpec* params;
  int n_params;
  const DomainSpec* domains;
  int n_domains;
  bool has_hess;
  bool hess_exact;
  bool grad_exact;
};

namespace detail {

template <class E>
constexpr int id(E e) {
  return static_cast<int>(e);
}

template <class T, std::size_t N>
constexpr int count(const T (&)[N]) {
  return static_cast<int>(N);
}

constexpr bool same(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) ++a, ++b;
  return *a == *b;
}

using R = RegressionLoss;
using C = ClassificationLoss;
using M = MulticlassLoss;
using O = OverlapLoss;
using B = BoxLoss;
using E = EmbeddingLoss;
using Q = SequenceLoss;
using RK = RankingLoss;
using G = GenerativeLoss;
using Ctl = ControlLoss;
using Rg = RegularizationLoss;
using P = PairwiseLoss;
using Rob = RobustLoss;
using Clu = ClusteringLoss;
using Im = ImageLoss;

// ---- inputs: (name, kernel that differentiates it)
#define FL_PAIR(pred, target, kernel) \
  { {pred, id(kernel)}, { target, -1 } }
// A loss symmetric in its two arrays, l(p, y) = l(y, p) as a function of
// p - y (mse, mae, huber, ...): its own kernel run on the swapped arrays
// differentiates the target (d/dy l(y, p) at the swapped point is exactly
// -d/dp, since y - p = -(p - y) in floating point), on request.
#define FL_SYMMETRIC(pred, target, kernel) \
  { {pred, id(kernel)}, { target, id(kernel), false, true } }
inline constexpr InputSpec kMse[] = FL_SYMMETRIC("pred", "target", R::mse);
inline constexpr InputSpec kMae[] = FL_SYMMETRIC("pred", "target", R::mae);
inline constexpr InputSpec kHuber[] = FL_SYMMETRIC("pred", "target", R::huber);
inline constexpr InputSpec kSmoothL1[] = FL_SYMMETRIC("pred", "target", R::smooth_l1);
inline constexpr InputSpec kLogCosh[] = FL_SYMMETRIC("pred", "target", R::log_cosh);
inline constexpr InputSpec kQuantile[] = {{"pred", id(R::quantile)},
                                          {"target", id(R::quantile_target), false, true}};
inline constexpr InputSpec kMape[] = FL_PAIR("pred", "target", R::mape);
inline constexpr InputSpec kMsle[] = FL_PAIR("pred", "target", R::msle);
inline constexpr InputSpec kPoissonNll[] = {{"pred", id(R::poisson_nll)},
                                            {"target", id(R::poisson_nll_target), false, true}};
inline constexpr InputSpec kTweedie[] = FL_PAIR("pred", "target", R::tweedie);
inline constexpr InputSpec kPseudoHuber[] = FL_SYMMETRIC("pred", "target", R::pseudo_huber);
inline constexpr InputSpec kGaussianNll[] = {
    {"pred", id(R::gaussian_nll)},
    {"target", id(R::gaussian_nll), false, true},  // symmetric in pred and target
    {"var", id(R::gaussian_nll_var)}};
inline constexpr InputSpec kBce[] = {{"prob", id(C::binary_cross_entropy)},
                                     {"target", id(C::binary_cross_entropy_target), false, true}};
inline constexpr InputSpec kBceLogits[] = {
    {"logits", id(C::binary_cross_entropy_with_logits)},
    {"target", id(C::binary_cross_entropy_with_logits_target), false, true}};
inline constexpr InputSpec kHinge[] = FL_PAIR("score", "target", C::hinge);
inline constexpr InputSpec kSquaredHinge[] = FL_PAIR("score", "target", C::squared_hinge);
inline constexpr InputSpec kSigmoidFocal[] = FL_PAIR("logits", "target", C::sigmoid_focal);
// cross_entropy's target: differentiable where it holds class probabilities
// (the Python layer refuses integer labels' gradient).
inline constexpr InputSpec kCrossEntropy[] = {
    {"logits", id(M::cross_entropy)}, {"target", id(M::cross_entropy_target), false, true}};
inline constexpr InputSpec kMulticlassHinge[] = FL_PAIR("scores", "labels", M::multiclass_hinge);
inline constexpr InputSpec kSoftmaxFocal[] = FL_PAIR("logits", "labels", M::softmax_focal);
inline constexpr InputSpec kKlDiv[] = {{"log_pred", id(M::kl_div)},
                                       {"target", id(M::kl_div_target), false, true}};
inline constexpr InputSpec kBrier[] = FL_PAIR("prob", "target", M::brier);
inline constexpr InputSpec kCategoricalHinge[] =
    FL_PAIR("scores", "target", M::categorical_hinge);
inline constexpr InputSpec kSoftMargin[] = FL_PAIR("score", "target", C::soft_margin);
inline constexpr InputSpec kHingeEmbedding[] = FL_PAIR("x", "target", C::hinge_embedding);
inline constexpr InputSpec kNll[] = FL_PAIR("log_probs", "labels", M::nll);
// linear_cross_entropy: the logits hidden @ linear_weight^T + linear_bias are
// made chunk by chunk in Python (BLAS) and their gradient comes from the
// cross_entropy kernel, which is the kernel that differentiates all three.
inline constexpr InputSpec kLinearCrossEntropy[] = {{"hidden", id(M::cross_entropy)},
                                                    {"linear_weight", id(M::cross_entropy)},
                                                    {"labels", -1},
                                                    {"linear_bias", id(M::cross_entropy), true}};
inline constexpr InputSpec kMultilabelSoftMargin[] = {
    {"logits", id(M::multilabel_soft_margin)},
    {"target", id(M::multilabel_soft_margin_target), false, true}};
inline constexpr InputSpec kMultilabelMargin[] =
    FL_PAIR("scores", "target", M::multilabel_margin);
inline constexpr InputSpec kDice[] = FL_PAIR("pred", "target", O::dice);
inline constexpr InputSpec kIou[] = FL_PAIR("pred", "target", O::iou);
inline constexpr InputSpec kTversky[] = FL_PAIR("pred", "target", O::tversky);
inline constexpr InputSpec kGeneralizedDice[] = FL_PAIR("pred", "target", O::generalized_dice);
inline constexpr InputSpec kBoxIou[] = FL_PAIR("pred", "target", B::iou);
inline constexpr InputSpec kBoxGiou[] = FL_PAIR("pred", "target", B::giou);
inline constexpr InputSpec kBoxDiou[] = FL_PAIR("pred", "target", B::diou);
inline constexpr InputSpec kBoxCiou[] = FL_PAIR("pred", "target", B::ciou);
#undef FL_PAIR
// The several-input families: one kernel computes every input's gradient, so
// each differentiable input names the loss's own id.
inline constexpr InputSpec kMarginRanking[] = {{"x1", id(E::margin_ranking)},
                                               {"x2", id(E::margin_ranking)},
                                               {"y", id(E::margin_ranking), false, true}};
inline constexpr InputSpec kTripletMargin[] = {{"anchor", id(E::triplet_margin)},
                                               {"positive", id(E::triplet_margin)},
                                               {"negative", id(E::triplet_margin)}};
inline constexpr InputSpec kTripletDistance[] = {
    {"anchor", id(E::triplet_margin_with_distance)},
    {"positive", id(E::triplet_margin_with_distance)},
    {"negative", id(E::triplet_margin_with_distance)}};
inline constexpr InputSpec kCosineEmbedding[] = {
    {"x1", id(E::cosine_embedding)}, {"x2", id(E::cosine_embedding)}, {"y", -1}};
inline constexpr InputSpec kContrastive[] = {
    {"x1", id(E::contrastive)}, {"x2", id(E::contrastive)}, {"same", -1}};
inline constexpr InputSpec kCtc[] = {
    {"logits", id(Q::ctc)}, {"targets", -1}, {"input_lengths", -1}, {"target_lengths", -1}};
// Ranking: (scores, labels, mask); mask is optional (an absent one: every
// item valid) and, like labels, not differentiable.
#define FL_LISTS(kernel) {{"scores", id(kernel)}, {"labels", -1}, {"mask", -1, true}}
inline constexpr InputSpec kPairwiseLogistic[] = FL_LISTS(RK::pairwise_logistic);
inline constexpr InputSpec kPairwiseHinge[] = FL_LISTS(RK::pairwise_hinge);
inline constexpr InputSpec kListNet[] = FL_LISTS(RK::listnet);
inline constexpr InputSpec kApproxNdcg[] = FL_LISTS(RK::approx_ndcg);
inline constexpr InputSpec kLambdaRank[] = FL_LISTS(RK::lambda_rank);
#undef FL_LISTS
#define FL_REAL_FAKE(kernel) \
  { {"real", id(kernel)}, { "fake", id(kernel) } }
inline constexpr InputSpec kGanDiscriminator[] = FL_REAL_FAKE(G::gan_discriminator);
inline constexpr InputSpec kHingeGanDiscriminator[] = FL_REAL_FAKE(G::hinge_gan_discriminator);
inline constexpr InputSpec kWassersteinCritic[] = FL_REAL_FAKE(G::wasserstein_critic);
#undef FL_REAL_FAKE
inline constexpr InputSpec kGanGenerator[] = {{"fake", id(G::gan_generator)}};
inline constexpr InputSpec kHingeGanGenerator[] = {{"fake", id(G::hinge_gan_generator)}};
inline constexpr InputSpec kWassersteinGenerator[] = {{"fake", id(G::wasserstein_generator)}};
inline constexpr InputSpec kGradientPenalty[] = {{"grads", id(G::gradient_penalty)}};
inline constexpr InputSpec kElbo[] = {
    {"recon", id(G::elbo)}, {"x", -1}, {"mu", id(G::elbo)}, {"logvar", id(G::elbo)}};
inline constexpr InputSpec kL1Penalty[] = {{"w", id(Rg::l1_penalty)}};
inline constexpr InputSpec kL2Penalty[] = {{"w", id(Rg::l2_penalty)}};
inline constexpr InputSpec kElasticNet[] = {{"w", id(Rg::elastic_net)}};
inline constexpr InputSpec kEntropy[] = {{"logits", id(Rg::entropy)}};
inline constexpr InputSpec kRouterZ[] = {{"router_logits", id(Rg::router_z_loss)}};
inline constexpr InputSpec kCenter[] = {
    {"features", id(Rg::center)}, {"labels", -1}, {"centers", id(Rg::center)}};
inline constexpr InputSpec kOrthogonality[] = {{"W", id(Rg::orthogonality)}};
inline constexpr InputSpec kKlSparsity[] = {{"activations", id(Rg::kl_sparsity)}};
inline constexpr InputSpec kMoe[] = {{"router_probs", id(Rg::moe_load_balancing)},
                                     {"expert_index", -1}};
inline constexpr InputSpec kTdError[] = {
    {"q", id(Ctl::td_error)}, {"rewards", -1}, {"next_q", -1}, {"dones", -1}};
inline constexpr InputSpec kPinn[] = {{"residual", id(Ctl::pinn)},
                                       {"boundary", id(Ctl::pinn), true},
                                       {"data", id(Ctl::pinn), true}};
inline constexpr InputSpec kNtxent[] = {{"z1", id(P::ntxent)}, {"z2", id(P::ntxent)}};
// CLIP learns logit_scale: it is an input (optional in Python) with a gradient
inline constexpr InputSpec kClip[] = {
    {"image_emb", id(P::clip)}, {"text_emb", id(P::clip)}, {"logit_scale", id(P::clip)}};
inline constexpr InputSpec kBarron[] = {{"pred", id(Rob::barron)},
                                        {"target", -1},
                                        {"alpha", id(Rob::barron), true},
                                        {"scale", id(Rob::barron), true}};
inline constexpr InputSpec kKmeansInertia[] = {{"X", -1}, {"centers", id(Clu::kmeans_inertia)}};
inline constexpr InputSpec kSsim[] = {{"pred", id(Im::ssim)}, {"target", -1}};
// perceptual: lists of feature maps; each layer runs mae (p = 1), mse (p = 2)
// or, for any other power, the regression kernel abs_power, whose id is the
// loss's (python/fastloss/image.py).
inline constexpr InputSpec kPerceptual[] = {{"pred_features", id(R::abs_power)},
                                            {"target_features", -1}};
inline constexpr InputSpec kMsSsim[] = {{"pred", id(Im::ms_ssim)}, {"target", -1}};

// ---- parameters
inline constexpr ParamSpec kDeltaParams[] = {real_param("delta", 1.0, open(0.0))};
inline constexpr ParamSpec kBetaParams[] = {real_param("beta", 1.0, open(0.0))};
inline constexpr ParamSpec kQuantileParams[] = {
    real_param("quantile", 0.5, open(0.0), open(1.0))};
inline constexpr ParamSpec kPoissonParams[] = {
    bool_param("log_input", true), bool_param("full", false),
    real_param("eps", 1e-8, closed(0.0))};
inline constexpr ParamSpec kGaussianParams[] = {
    bool_param("full", false), real_param("eps", 1e-6, open(0.0))};
inline constexpr const char* kLinks[] = {"identity", "log"};
constexpr ParamSpec tweedie_power() {
  ParamSpec p = real_param("power", 1.5);
  p.excluded = true;  // the kernel throws on such a power too (regression.cpp)
  p.excl_lo = 0.0;
  p.excl_hi = 1.0;
  p.excl_reason = "no Tweedie distribution has a power in (0, 1)";
  return p;
}
inline constexpr ParamSpec kTweedieParams[] = {tweedie_power(), choice_param("link", kLinks)};
inline constexpr ParamSpec kPosWeightParams[] = {
    array_param("pos_weight", ParamKind::real_or_array, closed(0.0))};
inline constexpr ParamSpec kMarginParams[] = {real_param("margin", 1.0, closed(0.0))};
inline constexpr ParamSpec kSigmoidFocalParams[] = {
    real_param("alpha", 0.25, none(), closed(1.0)), real_param("gamma", 2.0, closed(0.0))};
inline constexpr ParamSpec kCrossEntropyParams[] = {
    array_param("class_weight", ParamKind::optional_array), int_param("ignore_index", -100),
    real_param("label_smoothing", 0.0, closed(0.0), closed(1.0))};
inline constexpr const char* kVariants[] = {"crammer_singer", "weston_watkins"};
inline constexpr ParamSpec kMulticlassHingeParams[] = {
    real_param("margin", 1.0), choice_param("variant", kVariants), int_param("p", 1)};
inline constexpr ParamSpec kSoftmaxFocalParams[] = {
    real_param("gamma", 2.0, closed(0.0)),
    array_param("class_weight", ParamKind::optional_array)};
inline constexpr ParamSpec kKlDivParams[] = {bool_param("log_target", false)};
inline constexpr ParamSpec kHingeEmbeddingParams[] = {real_param("margin", 1.0)};
inline constexpr ParamSpec kNllParams[] = {
    array_param("class_weight", ParamKind::optional_array), int_param("ignore_index", -100)};
inline constexpr ParamSpec kClassWeightParams[] = {
    array_param("class_weight", ParamKind::optional_array)};
inline constexpr ParamSpec kSliceParams[] = {
    real_param("smooth", 1e-5, closed(0.0)), array_param("axis", ParamKind::axes)};
inline constexpr ParamSpec kTverskyParams[] = {
    real_param("alpha", 0.5, closed(0.0)), real_param("beta", 0.5, closed(0.0)),
    real_param("smooth", 1e-5, closed(0.0)), array_param("axis", ParamKind::axes)};
inline constexpr ParamSpec kGeneralizedDiceParams[] = {real_param("smooth", 1e-5, closed(0.0))};
inline constexpr ParamSpec kBoxParams[] = {real_param("eps", 1e-7, open(0.0))};
inline constexpr ParamSpec kMarginRankingParams[] = {real_param("margin", 0.0)};
// p >= 1: a norm (torch also takes 0 < p < 1 and inf; see triplet_margin's doc)
inline constexpr ParamSpec kTripletMarginParams[] = {
    real_param("margin", 1.0),
    real_param("p", 2.0, open(0.0), closed(std::numeric_limits<double>::infinity())),
    real_param("eps", 1e-6, closed(0.0)), bool_param("swap", false)};
inline constexpr const char* kDistances[] = {"euclidean", "cosine"};
// torch refuses margin <= 0 here (TripletMarginWithDistanceLoss)
inline constexpr ParamSpec kTripletDistanceParams[] = {
    choice_param("distance", kDistances), real_param("margin", 1.0, open(0.0)),
    bool_param("swap", false)};
inline constexpr ParamSpec kContrastiveParams[] = {real_param("margin", 1.0, closed(0.0))};
inline constexpr ParamSpec kCtcParams[] = {int_param("blank", 0), bool_param("zero_infinity", false),
                                           bool_param("batch_first", false)};
inline constexpr ParamSpec kApproxNdcgParams[] = {real_param("temperature", 1.0, open(0.0))};
inline constexpr ParamSpec kGanGeneratorParams[] = {bool_param("non_saturating", true)};
inline constexpr ParamSpec kGradientPenaltyParams[] = {
    real_param("target_norm", 1.0, closed(0.0))};
inline constexpr const char* kReconLosses[] = {"bce_with_logits", "mse"};
inline constexpr ParamSpec kElasticNetParams[] = {
    real_param("l1_ratio", 0.5, closed(0.0), closed(1.0))};
inline constexpr ParamSpec kKlSparsityParams[] = {real_param("rho", 0.05, open(0.0), open(1.0))};
inline constexpr const char* kTdLosses[] = {"huber", "mse"};
inline constexpr ParamSpec kTdErrorParams[] = {
    real_param("gamma", 0.99, closed(0.0), closed(1.0)), choice_param("loss", kTdLosses)};
inline constexpr double kPinnWeights[] = {1.0, 1.0, 1.0};
inline constexpr ParamSpec kPinnParams[] = {reals_param("weights", kPinnWeights, closed(0.0))};
#define FL_SSIM_PARAMS                                                               \
  real_param("data_range", 1.0, open(0.0)), int_param("win_size", 11),              \
      real_param("sigma", 1.5, open(0.0)), real_param("k1", 0.01, closed(0.0)), \
      real_param("k2", 0.03, closed(0.0))
inline constexpr ParamSpec kSsimParams[] = {FL_SSIM_PARAMS};
inline constexpr ParamSpec kPerceptualParams[] = {
    array_param("layer_weights", ParamKind::optional_array), real_param("p", 2.0, open(0.0))};
// pytorch_msssim's default weights (Wang, Simoncelli & Bovik 2003); as
// there, one level per weight (1 to 5 here)
inline constexpr double kMsSsimWeights[] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
inline constexpr ParamSpec kMsSsimParams[] = {
    FL_SSIM_PARAMS, reals_param("weights", kMsSsimWeights, closed(0.0), 1)};
#undef FL_SSIM_PARAMS
inline constexpr ParamSpec kElboParams[] = {choice_param("recon_loss", kReconLosses),
                                            real_param("beta", 1.0, closed(0.0))};
inline constexpr ParamSpec kNtxentParams[] = {real_param("temperature", 0.5, open(0.0))};

// ---- input domains
inline constexpr DomainSpec kMsleDomains[] = {
    interval("pred", open(-1.0), none(), "", "log1p of a value <= -1 is undefined"),
    interval("target", open(-1.0), none(), "", "log1p of a value <= -1 is undefined")};
inline constexpr DomainSpec kBceDomains[] = {
    interval("prob", closed(0.0), closed(1.0), "probabilities", ""),
    interval("target", closed(0.0), closed(1.0), "targets", "")};
inline constexpr double kHingeLabels[] = {-1.0, 0.0, 1.0};
inline constexpr DomainSpec kHingeDomains[] = {
    one_of("target", kHingeLabels, "hinge labels", "0 is read as -1")};
// tweedie: which targets and preds are valid depends on power and link
// (regression.hpp, Tweedie::invalid); the Python layer words it by name.
inline constexpr DomainSpec kTweedieDomains[] = {rule("target", "tweedie"),
                                                 rule("pred", "tweedie")};
// brier: probabilities in [0, 1], and binary targets (an array of prob's
// shape) in [0, 1] as scikit-learn's brier_score_loss checks them; class
// labels (prob's shape without its last axis) are checked as labels.
inline constexpr DomainSpec kBrierDomains[] = {
    interval("prob", closed(0.0), closed(1.0), "probabilities", "", false),
    interval("target", closed(0.0), closed(1.0), "binary targets",
             "for labels in {-1, 1} pass target == 1", false)};
inline constexpr DomainSpec kGaussianNllDomains[] = {
    interval("var", closed(0.0), none(), "variances", "", false)};

#define FL_LIST(a) a, count(a)
#define FL_NONE nullptr, 0
inline constexpr LossSpec kLosses[] = {
    // name, family, kernel id, inputs, params, domains, has_hess, hess_exact, grad_exact
    {"mse", "regression", id(R::mse), FL_LIST(kMse), FL_NONE, FL_NONE, true, true, true},
    {"mae", "regression", id(R::mae), FL_LIST(kMae), FL_NONE, FL_NONE, true, true, true},
    {"huber", "regression", id(R::huber), FL_LIST(kHuber), FL_LIST(kDeltaParams), FL_NONE,
     true, true, true},
    {"smooth_l1", "regression", id(R::smooth_l1), FL_LIST(kSmoothL1), FL_LIST(kBetaParams),
     FL_NONE, true, true, true},
    {"log_cosh", "regression", id(R::log_cosh), FL_LIST(kLogCosh), FL_NONE, FL_NONE, true, true,
     true},
    {"quantile", "regression", id(R::quantile), FL_LIST(kQuantile), FL_LIST(kQuantileParams),
     FL_NONE, true, true, true},
    {"mape", "regression", id(R::mape), FL_LIST(kMape), FL_NONE, FL_NONE, true, true, true},
    {"msle", "regression", id(R::msle), FL_LIST(kMsle), FL_NONE, FL_LIST(kMsleDomains), true,
     true, true},
    // rmse is not element-wise: the Python layer runs the mse kernel and
    // takes the square root of the mean (no Hessian).
    {"rmse", "regression", id(R::mse), FL_LIST(kMse), FL_NONE, FL_NONE, false, true, true},
    {"poisson_nll", "regression", id(R::poisson_nll), FL_LIST(kPoissonNll),
     FL_LIST(kPoissonParams), FL_NONE, true, true, true},
    {"gaussian_nll", "regression", id(R::gaussian_nll), FL_LIST(kGaussianNll),
     FL_LIST(kGaussianParams), FL_LIST(kGaussianNllDomains), true, true, true},
    {"tweedie", "regression", id(R::tweedie), FL_LIST(kTweedie), FL_LIST(kTweedieParams),
     FL_LIST(kTweedieDomains), true, true, true},
    {"pseudo_huber", "regression", id(R::pseudo_huber), FL_LIST(kPseudoHuber),
     FL_LIST(kDeltaParams), FL_NONE, true, true, true},
    {"binary_cross_entropy", "classification", id(C::binary_cross_entropy), FL_LIST(kBce),
     FL_NONE, FL_LIST(kBceDomains), true, true, true},
    {"binary_cross_entropy_with_logits", "classification",
     id(C::binary_cross_entropy_with_logits), FL_LIST(kBceLogits), FL_LIST(kPosWeightParams),
     FL_NONE, true, true, true},
    {"hinge", "classification", id(C::hinge), FL_LIST(kHinge), FL_LIST(kMarginParams),
     FL_LIST(kHingeDomains), true, true, true},
    {"squared_hinge", "classification", id(C::squared_hinge), FL_LIST(kSquaredHinge),
     FL_LIST(kMarginParams), FL_LIST(kHingeDomains), true, true, true},
    {"sigmoid_focal", "classification", id(C::sigmoid_focal), FL_LIST(kSigmoidFocal),
     FL_LIST(kSigmoidFocalParams), FL_NONE, true, true, true},
    {"cross_entropy", "multiclass", id(M::cross_entropy), FL_LIST(kCrossEntropy),
     FL_LIST(kCrossEntropyParams), FL_NONE, true, true, true},
    {"multiclass_hinge", "multiclass", id(M::multiclass_hinge), FL_LIST(kMulticlassHinge),
     FL_LIST(kMulticlassHingeParams), FL_NONE, true, true, true},
    {"softmax_focal", "multiclass", id(M::softmax_focal), FL_LIST(kSoftmaxFocal),
     FL_LIST(kSoftmaxFocalParams), FL_NONE, true, true, true},
    {"kl_div", "multiclass", id(M::kl_div), FL_LIST(kKlDiv), FL_LIST(kKlDivParams), FL_NONE,
     true, true, true},
    {"brier", "multiclass", id(M::brier), FL_LIST(kBrier), FL_NONE, FL_LIST(kBrierDomains), true,
     true, true},
    {"categorical_hinge", "multiclass", id(M::categorical_hinge), FL_LIST(kCategoricalHinge),
     FL_NONE, FL_NONE, true, true, true},
    {"dice", "overlap", id(O::dice), FL_LIST(kDice), FL_LIST(kSliceParams), FL_NONE, false,
     true, true},
    {"iou", "overlap", id(O::iou), FL_LIST(kIou), FL_LIST(kSliceParams), FL_NONE, false, true,
     true},
    {"tversky", "overlap", id(O::tversky), FL_LIST(kTversky), FL_LIST(kTverskyParams), FL_NONE,
     false, true, true},
    {"generalized_dice", "overlap", id(O::generalized_dice), FL_LIST(kGeneralizedDice),
     FL_LIST(kGeneralizedDiceParams), FL_NONE, false, true, true},
    {"box_iou_loss", "boxes", id(B::iou), FL_LIST(kBoxIou), FL_LIST(kBoxParams), FL_NONE,
     false, true, true},
    {"giou_loss", "boxes", id(B::giou), FL_LIST(kBoxGiou), FL_LIST(kBoxParams), FL_NONE, false,
     true, true},
    {"diou_loss", "boxes", id(B::diou), FL_LIST(kBoxDiou), FL_LIST(kBoxParams), FL_NONE, false,
     true, true},
    // torchvision's complete-IoU treats its alpha as a constant for the gradient
    {"ciou_loss", "boxes", id(B::ciou), FL_LIST(kBoxCiou), FL_LIST(kBoxParams), FL_NONE, false,
     true, false},
    // the rest of PyTorch's losses (issue 22)
    {"nll", "multiclass", id(M::nll), FL_LIST(kNll), FL_LIST(kNllParams), FL_NONE, true, true,
     true},
    {"soft_margin", "classification", id(C::soft_margin), FL_LIST(kSoftMargin), FL_NONE, FL_NONE,
     true, true, true},
    {"hinge_embedding", "classification", id(C::hinge_embedding), FL_LIST(kHingeEmbedding),
     FL_LIST(kHingeEmbeddingParams), FL_NONE, true, true, true},
    {"multilabel_soft_margin", "multiclass", id(M::multilabel_soft_margin),
     FL_LIST(kMultilabelSoftMargin), FL_LIST(kClassWeightParams), FL_NONE, true, true, true},
    {"multilabel_margin", "multiclass", id(M::multilabel_margin), FL_LIST(kMultilabelMargin),
     FL_NONE, FL_NONE, true, true, true},
    {"margin_ranking", "embedding", id(E::margin_ranking), FL_LIST(kMarginRanking),
     FL_LIST(kMarginRankingParams), FL_NONE, false, true, true},
    {"triplet_margin", "embedding", id(E::triplet_margin), FL_LIST(kTripletMargin),
     FL_LIST(kTripletMarginParams), FL_NONE, false, true, true},
    {"triplet_margin_with_distance", "embedding", id(E::triplet_margin_with_distance),
     FL_LIST(kTripletDistance), FL_LIST(kTripletDistanceParams), FL_NONE, false, true, true},
    {"cosine_embedding", "embedding", id(E::cosine_embedding), FL_LIST(kCosineEmbedding),
     FL_LIST(kMarginRankingParams), FL_NONE, false, true, true},
    {"contrastive", "embedding", id(E::contrastive), FL_LIST(kContrastive),
     FL_LIST(kContrastiveParams), FL_NONE, false, true, true},
    {"ctc", "sequence", id(Q::ctc), FL_LIST(kCtc), FL_LIST(kCtcParams), FL_NONE, false, true,
     true},
    {"pairwise_logistic", "ranking", id(RK::pairwise_logistic), FL_LIST(kPairwiseLogistic),
     FL_NONE, FL_NONE, false, true, true},
    {"pairwise_hinge", "ranking", id(RK::pairwise_hinge), FL_LIST(kPairwiseHinge), FL_NONE,
     FL_NONE, false, true, true},
    {"listnet", "ranking", id(RK::listnet), FL_LIST(kListNet), FL_NONE, FL_NONE, false, true,
     true},
    {"approx_ndcg", "ranking", id(RK::approx_ndcg), FL_LIST(kApproxNdcg),
     FL_LIST(kApproxNdcgParams), FL_NONE, false, true, true},
    // lambda_rank's pair weights (from the exact ranks) are constants for the
    // gradient, as in rax and TF-Ranking; they are piecewise constant in the
    // scores, so the gradient is exact wherever no two scores tie.
    {"lambda_rank", "ranking", id(RK::lambda_rank), FL_LIST(kLambdaRank), FL_NONE, FL_NONE,
     false, true, true},
    {"gan_discriminator", "generative", id(G::gan_discriminator), FL_LIST(kGanDiscriminator),
     FL_NONE, FL_NONE, false, true, true},
    {"gan_generator", "generative", id(G::gan_generator), FL_LIST(kGanGenerator),
     FL_LIST(kGanGeneratorParams), FL_NONE, false, true, true},
    {"hinge_gan_discriminator", "generative", id(G::hinge_gan_discriminator),
     FL_LIST(kHingeGanDiscriminator), FL_NONE, FL_NONE, false, true, true},
    {"hinge_gan_generator", "generative", id(G::hinge_gan_generator),
     FL_LIST(kHingeGanGenerator), FL_NONE, FL_NONE, false, true, true},
    {"wasserstein_critic", "generative", id(G::wasserstein_critic), FL_LIST(kWassersteinCritic),
     FL_NONE, FL_NONE, false, true, true},
    {"wasserstein_generator", "generative", id(G::wasserstein_generator),
     FL_LIST(kWassersteinGenerator), FL_NONE, FL_NONE, false, true, true},
    {"gradient_penalty", "generative", id(G::gradient_penalty), FL_LIST(kGradientPenalty),
     FL_LIST(kGradientPenaltyParams), FL_NONE, false, true, true},
    {"elbo", "generative", id(G::elbo), FL_LIST(kElbo), FL_LIST(kElboParams), FL_NONE, false,
     true, true},
    {"l1_penalty", "regularization", id(Rg::l1_penalty), FL_LIST(kL1Penalty), FL_NONE, FL_NONE,
     false, true, true},
    {"l2_penalty", "regularization", id(Rg::l2_penalty), FL_LIST(kL2Penalty), FL_NONE, FL_NONE,
     false, true, true},
    {"elastic_net", "regularization", id(Rg::elastic_net), FL_LIST(kElasticNet),
     FL_LIST(kElasticNetParams), FL_NONE, false, true, true},
    {"entropy", "regularization", id(Rg::entropy), FL_LIST(kEntropy), FL_NONE, FL_NONE, false,
     true, true},
    {"center", "regularization", id(Rg::center), FL_LIST(kCenter), FL_NONE, FL_NONE, false, true,
     true},
    {"orthogonality", "regularization", id(Rg::orthogonality), FL_LIST(kOrthogonality), FL_NONE,
     FL_NONE, false, true, true},
    {"kl_sparsity", "regularization", id(Rg::kl_sparsity), FL_LIST(kKlSparsity),
     FL_LIST(kKlSparsityParams), FL_NONE, false, true, true},
    {"moe_load_balancing", "regularization", id(Rg::moe_load_balancing), FL_LIST(kMoe), FL_NONE,
     FL_NONE, false, true, true},
    {"router_z_loss", "regularization", id(Rg::router_z_loss), FL_LIST(kRouterZ), FL_NONE,
     FL_NONE, false, true, true},
    {"td_error", "control", id(Ctl::td_error), FL_LIST(kTdError), FL_LIST(kTdErrorParams),
     FL_NONE, false, true, true},
    {"pinn", "control", id(Ctl::pinn), FL_LIST(kPinn), FL_LIST(kPinnParams), FL_NONE, false,
     true, true},
    {"ntxent", "pairwise", id(P::ntxent), FL_LIST(kNtxent), FL_LIST(kNtxentParams), FL_NONE,
     false, true, true},
    {"clip", "pairwise", id(P::clip), FL_LIST(kClip), FL_NONE, FL_NONE, false, true, true},
    {"barron", "robust", id(Rob::barron), FL_LIST(kBarron), nullptr, 0, FL_NONE, false, true,
     true},
    {"kmeans_inertia", "clustering", id(Clu::kmeans_inertia), FL_LIST(kKmeansInertia),
     FL_NONE, FL_NONE, false, true, true},
    // linear_cross_entropy runs the cross_entropy kernel on chunks of logits
    // that python/fastloss/linear.py makes with NumPy's BLAS (family code 14)
    {"linear_cross_entropy", "linear", id(M::cross_entropy), FL_LIST(kLinearCrossEntropy),
     FL_LIST(kCrossEntropyParams), FL_NONE, false, true, true},
    {"ssim", "image", id(Im::ssim), FL_LIST(kSsim), FL_LIST(kSsimParams), FL_NONE, false, true,
     true},
    {"ms_ssim", "image", id(Im::ms_ssim), FL_LIST(kMsSsim), FL_LIST(kMsSsimParams), FL_NONE, false,
     true, true},
    // perceptual runs regression kernels per layer (family code 0)
    {"perceptual", "image", id(R::abs_power), FL_LIST(kPerceptual), FL_LIST(kPerceptualParams),
     FL_NONE, false, true, true},
};
#undef FL_LIST
#undef FL_NONE

}  // namespace detail

inline constexpr const LossSpec* losses = detail::kLosses;
inline constexpr int n_losses = detail::count(detail::kLosses);

// The entry of `name`; not a constant expression (a compile error in a
// static_assert) when there is none.
constexpr const LossSpec& find(const char* name) {
  for (int i = 0; i < n_losses; ++i)
    if (detail::same(losses[i].name, name)) return losses[i];
  throw "fastloss::catalogue::find: no such loss";
}

// The spec of parameter `param` of loss `loss`; as find, a compile error
// where it is used as a constant and there is none.
constexpr const ParamSpec& find_param(const char* loss, const char* param) {
  const LossSpec& s = find(loss);
  for (int i = 0; i < s.n_params; ++i)
    if (detail::same(s.params[i].name, param)) return s.params[i];
  throw "fastloss::catalogue::find_param: no such parameter";
}

// Whether v is a value of the real parameter p: finite (or an infinite end
// of [lo, hi] closed there), within [lo, hi] (open ends where marked) and
// outside its excluded interval -- the rule the Python layer checks, for a
// kernel entry that is called directly.
constexpr bool admits(const ParamSpec& p, double v) {
  const bool inf_end = (p.hi.set && !p.hi.open && v == p.hi.value) ||
                       (p.lo.set && !p.lo.open && v == p.lo.value);
  if (!(v - v == 0.0) && !inf_end) return false;  // NaN or infinite
  if (p.lo.set && (p.lo.open ? !(v > p.lo.value) : !(v >= p.lo.value))) return false;
  if (p.hi.set && (p.hi.open ? !(v < p.hi.value) : !(v <= p.hi.value))) return false;
  return !(p.excluded && v > p.excl_lo && v < p.excl_hi);
}

}  // namespace catalogue
}  // namespace fastloss
