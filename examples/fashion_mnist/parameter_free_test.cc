// Each optimizer against its published update rule, recomputed here in plain
// doubles on a small quadratic, f(x) = 0.5 sum_i a_i (x_i - c_i)^2.

#include "examples/fashion_mnist/parameter_free.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "gtest/gtest.h"

namespace autolrs::examples {
namespace {

using Vec = std::vector<double>;
const Vec kA = {1.0, 4.0, 0.25};
const Vec kC = {1.0, -2.0, 3.0};
const Vec kX0 = {0.5, 0.1, -0.3};

Vec Grad(const Vec& x) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) g[i] = kA[i] * (x[i] - kC[i]);
  return g;
}
double Loss(const Vec& x) {
  double f = 0;
  for (size_t i = 0; i < x.size(); ++i) f += 0.5 * kA[i] * (x[i] - kC[i]) * (x[i] - kC[i]);
  return f;
}
double Norm(const Vec& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

at::Tensor Param() {
  return torch::tensor(kX0, torch::kDouble).requires_grad_(true);
}

// Runs `steps` optimizer steps on the quadratic; returns the iterates.
std::vector<Vec> RunTorch(torch::optim::Optimizer& opt, at::Tensor& x, int steps) {
  std::vector<Vec> out;
  at::Tensor a = torch::tensor(kA, torch::kDouble);
  at::Tensor c = torch::tensor(kC, torch::kDouble);
  for (int k = 0; k < steps; ++k) {
    opt.zero_grad();
    at::Tensor f = 0.5 * (a * (x - c).pow(2)).sum();
    f.backward();
    opt.step();
    Vec v(3);
    for (int i = 0; i < 3; ++i) v[i] = x[i].item<double>();
    out.push_back(v);
  }
  return out;
}

void ExpectNear(const std::vector<Vec>& got, const std::vector<Vec>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    for (size_t i = 0; i < got[k].size(); ++i) {
      EXPECT_NEAR(got[k][i], want[k][i], 1e-9 * (1 + std::abs(want[k][i])))
          << "step " << k << " coordinate " << i;
    }
  }
}

constexpr int kSteps = 40;

TEST(DoGTest, FollowsTheUpdateRule) {
  at::Tensor x = Param();
  DoG opt({x}, /*lr=*/1.0, /*reps_rel=*/1e-2);
  const std::vector<Vec> got = RunTorch(opt, x, kSteps);
  Vec xv = kX0;
  const double r_eps = 1e-2 * (1 + Norm(kX0));
  double rbar = r_eps, g_sum = 1e-8;
  std::vector<Vec> want;
  for (int t = 0; t < kSteps; ++t) {
    const Vec g = Grad(xv);
    Vec diff(3);
    for (int i = 0; i < 3; ++i) diff[i] = xv[i] - kX0[i];
    rbar = std::max(rbar, Norm(diff));
    g_sum += Norm(g) * Norm(g);
    const double eta = rbar / std::sqrt(g_sum);
    for (int i = 0; i < 3; ++i) xv[i] -= eta * g[i];
    want.push_back(xv);
  }
  ExpectNear(got, want);
  // And it makes progress without any LR: the loss falls a lot.
  EXPECT_LT(Loss(got.back()), 0.1 * Loss(kX0));
}

TEST(DoGTest, LrScalesTheStep) {
  at::Tensor x = Param();
  DoG opt({x}, 1.0, 1e-2);
  opt.param_groups()[0].options().set_lr(0.5);
  RunTorch(opt, x, 1);
  // First step: eta = 0.5 r_eps / sqrt(eps + ||g0||^2).
  const double eta = 0.5 * 1e-2 * (1 + Norm(kX0)) / std::sqrt(1e-8 + std::pow(Norm(Grad(kX0)), 2));
  EXPECT_NEAR(opt.step_size(), eta, 1e-12);
}

TEST(DAdaptSgdTest, FollowsTheUpdateRule) {
  for (double growth : {HUGE_VAL, 1.02}) {
    at::Tensor x = Param();
    DAdaptSgd opt({x}, 1.0, /*momentum=*/0.9, /*d0=*/1e-6, growth);
    const std::vector<Vec> got = RunTorch(opt, x, kSteps);
    Vec xv = kX0, s(3, 0.0);
    double d = 1e-6, q = 0, g0 = 0;
    std::vector<Vec> want;
    for (int k = 0; k < kSteps; ++k) {
      const Vec g = Grad(xv);
      if (k == 0) g0 = Norm(g);
      const double lambda = d / g0;
      for (int i = 0; i < 3; ++i) s[i] += lambda * g[i];
      q += lambda * lambda * Norm(g) * Norm(g);
      const double d_hat = (Norm(s) * Norm(s) - q) / Norm(s);
      d = std::max(d, std::min(d_hat, d * growth));
      for (int i = 0; i < 3; ++i) xv[i] = 0.9 * xv[i] + 0.1 * (kX0[i] - s[i]);
      want.push_back(xv);
    }
    ExpectNear(got, want);
    EXPECT_NEAR(opt.d(), d, 1e-12 * d);
    if (growth == HUGE_VAL) {
      EXPECT_GT(d, 1e-3) << "D grows from d0 towards the distance to the solution";
    } else {
      EXPECT_LE(d, 1e-6 * std::pow(1.02, kSteps) * (1 + 1e-12)) << "growth is capped";
      EXPECT_GT(d, 1e-6);
    }
  }
}

TEST(DAdaptAdamTest, FollowsTheUpdateRule) {
  at::Tensor x = Param();
  DAdaptAdam opt({x});
  const std::vector<Vec> got = RunTorch(opt, x, kSteps);
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Vec xv = kX0, m(3, 0.0), v(3, 0.0), s(3, 0.0);
  double d = 1e-6, q = 0;
  std::vector<Vec> want;
  for (int k = 0; k < kSteps; ++k) {
    const Vec g = Grad(xv);
    const double dlr = d;
    double g_sq = 0, s_sq = 0, s_l1 = 0;
    Vec a(3);
    for (int i = 0; i < 3; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * dlr * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      a[i] = std::sqrt(v[i]) + eps;
      g_sq += g[i] * g[i] / a[i];
      s[i] = b2 * s[i] + (1 - b2) * dlr * g[i];
      s_sq += s[i] * s[i] / a[i];
      s_l1 += std::abs(s[i]);
    }
    q = b2 * q + (1 - b2) * dlr * dlr * g_sq;
    const double d_hat = (s_sq / (1 - b2) - q) / s_l1;
    d = std::max(d, d_hat);
    for (int i = 0; i < 3; ++i) xv[i] -= m[i] / a[i];
    want.push_back(xv);
  }
  ExpectNear(got, want);
  EXPECT_NEAR(opt.d(), d, 1e-9 * d);
}

TEST(ProdigyTest, FollowsTheUpdateRule) {
  at::Tensor x = Param();
  Prodigy opt({x});
  const std::vector<Vec> got = RunTorch(opt, x, kSteps);
  const double b1 = 0.9, b2 = 0.999, b3 = std::sqrt(0.999), eps = 1e-8, d0 = 1e-6;
  Vec xv = kX0, m(3, 0.0), v(3, 0.0), s(3, 0.0);
  double d = d0, d_max = d0, r = 0;
  std::vector<Vec> want;
  for (int k = 0; k < kSteps; ++k) {
    const Vec g = Grad(xv);
    const double dl = d;
    double dr = 0, s_l1 = 0;
    for (int i = 0; i < 3; ++i) {
      dr += (d / d0) * dl * g[i] * (kX0[i] - xv[i]);
      m[i] = b1 * m[i] + (1 - b1) * d * g[i];
      v[i] = b2 * v[i] + (1 - b2) * d * d * g[i] * g[i];
      s[i] = b3 * s[i] + (d / d0) * dl * g[i];
      s_l1 += std::abs(s[i]);
    }
    r = b3 * r + dr;
    const double d_hat = r / s_l1;
    if (d == d0) d = std::max(d, d_hat);
    d_max = std::max(d_max, d_hat);
    d = std::min(d_max, d * HUGE_VAL);  // growth_rate = inf: d = d_max
    for (int i = 0; i < 3; ++i) xv[i] -= dl * m[i] / (std::sqrt(v[i]) + d * eps);
    want.push_back(xv);
  }
  ExpectNear(got, want);
  EXPECT_GT(opt.d(), d0) << "D grows";
}

TEST(PolynomialAveragerTest, AveragesWithPolynomialWeights) {
  at::Tensor x = torch::zeros({2}, torch::kDouble);
  PolynomialAverager avg({x}, /*gamma=*/8.0);
  double want = 0;
  for (int t = 1; t <= 5; ++t) {
    x.fill_(static_cast<double>(t));
    avg.Update();
    const double w = 9.0 / (t + 8.0);
    want = (1 - w) * want + w * t;
  }
  EXPECT_EQ(avg.updates(), 5);
  avg.Swap();
  EXPECT_NEAR(x[0].item<double>(), want, 1e-12);
  EXPECT_LT(want, 5.0);
  avg.Swap();
  EXPECT_EQ(x[1].item<double>(), 5.0) << "a second Swap() restores the iterate";
}

}  // namespace
}  // namespace autolrs::examples
