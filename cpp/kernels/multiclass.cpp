// Multiclass kernels for one ISA level (compiled once per level): the switch
// from loss id to row functor, and the error raised after a bad label.
#include "fastloss/api/multiclass.hpp"

#include "fastloss/api/catalogue.hpp"

#include <stdexcept>
#include <string>

#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/run_fields.hpp"
#include "fastloss/multiclass.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// The catalogue tells the Python layer which losses have a Hessian; the row
// functors decide it (a row_hess hook). These keep the two from drifting.
#define FL_AGREES(name, ...)                                                        \
  static_assert(catalogue::find(name).has_hess == detail::has_row_hess<__VA_ARGS__>::value, \
                name ": catalogue has_hess")
FL_AGREES("cross_entropy", CrossEntropyLabels<double>);
FL_AGREES("cross_entropy", CrossEntropyProbs<double>);
FL_AGREES("multiclass_hinge", MulticlassHinge<double>);
FL_AGREES("softmax_focal", SoftmaxFocal<double>);
FL_AGREES("kl_div", KlDiv<double>);
FL_AGREES("brier", Brier<double>);
FL_AGREES("categorical_hinge", CategoricalHinge<double>);
FL_AGREES("nll", Nll<double>);
FL_AGREES("multilabel_soft_margin", MultilabelSoftMargin<double>);
FL_AGREES("multilabel_margin", MultilabelMargin<double>);
#undef FL_AGREES

namespace {

template <class T>
RowIO<T> row_io(const RowArgs& a) {
  RowIO<T> io = run_fields<RowIO<T>>(a);
  io.rows = a.rows;
  io.C = a.classes;
  io.pred = static_cast<const T*>(a.pred);
  io.out_grad = static_cast<T*>(a.out_grad);
  io.out_hess = static_cast<T*>(a.out_hess);
  io.out_blocks = a.out_blocks;
  return io;
}

LabelRows label_rows(const RowArgs& a, bool has_ignore) {
  if (a.labels == nullptr) throw std::invalid_argument("target: integer labels are required");
  return LabelRows{a.labels, a.class_weight, a.classes, a.ignore_index, has_ignore};
}

// The dense target rows (class probabilities, multilabel targets) and the
// class weights, for the losses that read them.
template <class T>
DenseRows<T> dense_rows(const RowArgs& a) {
  if (a.target == nullptr) throw std::invalid_argument("target is required");
  return DenseRows<T>{static_cast<const T*>(a.target), a.class_weight, a.classes};
}

template <class T>
double run(MulticlassLoss id, const RowArgs& a) {
  const RowIO<T> io = row_io<T>(a);
  ErrorSlot err;
  double v = 0.0;
  switch (id) {
    case MulticlassLoss::cross_entropy:
      if (a.labels != nullptr) {
        double cw_sum = static_cast<double>(a.classes);
        if (a.class_weight != nullptr) {
          const double* cw = a.class_weight;
          cw_sum = row_sum(a.classes, [&](int64_t k) { return cw[k]; });
        }
        const CrossEntropyLabels<T> f{label_rows(a, true), a.params[0], cw_sum};
        v = rowwise<T>(f, io, err);
      } else {
        const CrossEntropyProbs<T> f{dense_rows<T>(a), a.params[0]};
        v = rowwise<T>(f, io, err);
      }
      break;
    case MulticlassLoss::multiclass_hinge: {
      if (a.classes < 2) throw std::invalid_argument("scores: need at least 2 classes");
      const MulticlassHinge<T> f{label_rows(a, false), a.params[0], a.params[1] != 0.0,
                                 a.params[2] != 0.0};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::softmax_focal: {
      const SoftmaxFocal<T> f{label_rows(a, false), a.params[0]};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::kl_div: {
      const KlDiv<T> f{dense_rows<T>(a), a.params[0] != 0.0};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::brier: {
      if (a.labels == nullptr) throw std::invalid_argument("labels are required");
      const Brier<T> f{label_rows(a, false)};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::categorical_hinge: {
      const CategoricalHinge<T> f{dense_rows<T>(a)};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::nll: {
      const Nll<T> f{label_rows(a, true)};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::multilabel_soft_margin: {
      const MultilabelSoftMargin<T> f{dense_rows<T>(a)};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::multilabel_margin: {
      if (a.labels == nullptr || a.n_labels != a.rows * a.classes)
        throw std::invalid_argument("target: one row of class indices per row of scores");
      const MultilabelMargin<T> f{{a.labels, nullptr, a.classes}};
      v = rowwise<T>(f, io, err);
      break;
    }
    // the dense targets' gradients (TargetRows: the target's gradient in
    // out_grad, scaled as the scores' would be)
    case MulticlassLoss::kl_div_target: {
      const TargetRows<KlDiv<T>> f{{dense_rows<T>(a), a.params[0] != 0.0}};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::multilabel_soft_margin_target: {
      const TargetRows<MultilabelSoftMargin<T>> f{{dense_rows<T>(a)}};
      v = rowwise<T>(f, io, err);
      break;
    }
    case MulticlassLoss::cross_entropy_target: {
      if (a.labels != nullptr)
        throw std::invalid_argument("target: integer labels have no gradient");
      const TargetRows<CrossEntropyProbs<T>> f{{dense_rows<T>(a), a.params[0]}};
      v = rowwise<T>(f, io, err);
      break;
    }
    default:
      throw std::invalid_argument("unknown multiclass loss id");
  }
  // a label out of range: the Python layer words the message (it knows the
  // argument's name, the label and ignore_index)
  if (err.failed()) throw InvalidElement(err.first());
  return v;
}

}  // namespace

double multiclass_kernel(MulticlassLoss id, const RowArgs& a) {
  return a.dtype == DType::f32 ? run<float>(id, a) : run<double>(id, a);
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
