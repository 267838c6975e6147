#ifndef AUTOLRS_BO_GOLDEN_SECTION_H_
#define AUTOLRS_BO_GOLDEN_SECTION_H_

#include <utility>

namespace autolrs::bo {

// Golden-section search for the maximum of a unimodal function on [a, b].
// `eval(x)` returns a value of any type T and `score(t)` its double score, so
// callers can keep whatever they computed at the best point. Every x
// evaluated lies in [a, b]. Stops when the bracket is at most `tolerance`
// wide or after `max_iterations` narrowings, and returns the better of the
// two final interior points (the left one on ties) with its T.
template <typename Eval, typename Score>
auto GoldenSectionMaximize(double a, double b, double tolerance, int max_iterations, Eval eval,
                           Score score) -> std::pair<double, decltype(eval(a))> {
  constexpr double kInvPhi = 0.61803398874989484820;
  double x1 = b - kInvPhi * (b - a);
  double x2 = a + kInvPhi * (b - a);
  auto f1 = eval(x1);
  auto f2 = eval(x2);
  for (int iter = 0; iter < max_iterations && b - a > tolerance; ++iter) {
    if (score(f1) >= score(f2)) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - kInvPhi * (b - a);
      f1 = eval(x1);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + kInvPhi * (b - a);
      f2 = eval(x2);
    }
  }
  if (score(f1) >= score(f2)) return {x1, std::move(f1)};
  return {x2, std::move(f2)};
}

}  // namespace autolrs::bo

#endif  // AUTOLRS_BO_GOLDEN_SECTION_H_
