#include "examples/fashion_mnist/parameter_free.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <ATen/ATen.h>
#include <torch/utils.h>

namespace autolrs::examples {
namespace {

double SumSquares(const at::Tensor& t) { return t.pow(2).sum().item<double>(); }

std::vector<at::Tensor> Clones(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : params) out.push_back(p.detach().clone());
  return out;
}

std::vector<at::Tensor> Zeros(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& p : params) out.push_back(at::zeros_like(p.detach()));
  return out;
}

}  // namespace

ParameterFreeOptimizer::ParameterFreeOptimizer(std::vector<at::Tensor> params, double lr)
    : torch::optim::Optimizer({torch::optim::OptimizerParamGroup(std::move(params))},
                              std::make_unique<ParameterFreeOptions>(lr)) {}

// ---------------------------------------------------------------------------

DoG::DoG(std::vector<at::Tensor> params, double lr, double reps_rel, double eps)
    : ParameterFreeOptimizer(std::move(params), lr), reps_rel_(reps_rel), eps_(eps) {}

at::Tensor DoG::step(LossClosure) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor>& x = params();
  double g_sq = 0;
  for (const at::Tensor& p : x) {
    if (p.grad().defined()) g_sq += SumSquares(p.grad());
  }
  if (first_) {
    // r_eps = reps_rel (1 + ||x_0||), G_0 = eps + ||g_0||^2.
    x0_ = Clones(x);
    double x0_sq = 0;
    for (const at::Tensor& p : x0_) x0_sq += SumSquares(p);
    rbar_ = reps_rel_ * (1 + std::sqrt(x0_sq));
    g_sum_ = eps_ + g_sq;
    first_ = false;
  } else {
    // rbar_t = max(rbar_{t-1}, ||x_t - x_0||), G_t = G_{t-1} + ||g_t||^2.
    double dist_sq = 0;
    for (size_t i = 0; i < x.size(); ++i) dist_sq += SumSquares(x[i] - x0_[i]);
    rbar_ = std::max(rbar_, std::sqrt(dist_sq));
    g_sum_ += g_sq;
  }
  const double eta = lr() * rbar_ / std::sqrt(g_sum_);
  for (at::Tensor& p : x) {
    if (p.grad().defined()) p.add_(p.grad(), -eta);
  }
  step_size_ = eta;
  return {};
}

// ---------------------------------------------------------------------------

DAdaptSgd::DAdaptSgd(std::vector<at::Tensor> params, double lr, double momentum, double d0,
                     double growth_rate)
    : ParameterFreeOptimizer(std::move(params), lr),
      momentum_(momentum),
      growth_rate_(growth_rate),
      d_(d0) {}

at::Tensor DAdaptSgd::step(LossClosure) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor>& x = params();
  if (x0_.empty()) {
    x0_ = Clones(x);
    s_ = Zeros(x);
  }
  double g_sq = 0;
  for (const at::Tensor& p : x) {
    if (p.grad().defined()) g_sq += SumSquares(p.grad());
  }
  if (k_ == 0) g0_norm_ = std::sqrt(g_sq);
  const double lambda = d_ * lr() / g0_norm_;
  double s_sq = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].grad().defined()) continue;
    s_[i].add_(x[i].grad(), lambda);  // s_{k+1} = s_k + lambda_k g_k
    s_sq += SumSquares(s_[i]);
  }
  q_ += lambda * lambda * g_sq;  // q_{k+1} = q_k + lambda_k^2 ||g_k||^2
  if (s_sq > 0) {
    const double d_hat = (s_sq - q_) / std::sqrt(s_sq);
    d_ = std::max(d_, std::min(d_hat, d_ * growth_rate_));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].grad().defined()) continue;
    // z = x_0 - s; x = beta x + (1 - beta) z.
    x[i].mul_(momentum_).add_(x0_[i] - s_[i], 1 - momentum_);
  }
  step_size_ = lambda * g0_norm_;
  ++k_;
  return {};
}

// ---------------------------------------------------------------------------

DAdaptAdam::DAdaptAdam(std::vector<at::Tensor> params, double lr, double beta1, double beta2,
                       double eps, double d0, double growth_rate)
    : ParameterFreeOptimizer(std::move(params), lr),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      growth_rate_(growth_rate),
      d_(d0) {}

at::Tensor DAdaptAdam::step(LossClosure) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor>& x = params();
  if (m_.empty()) {
    m_ = Zeros(x);
    v_ = Zeros(x);
    s_ = Zeros(x);
  }
  const double dlr = d_ * lr();
  double g_sq = 0, s_sq = 0, s_l1 = 0;
  std::vector<at::Tensor> denom(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].grad().defined()) continue;
    const at::Tensor& g = x[i].grad();
    m_[i].mul_(beta1_).add_(g, dlr * (1 - beta1_));
    v_[i].mul_(beta2_).addcmul_(g, g, 1 - beta2_);
    denom[i] = v_[i].sqrt().add_(eps_);
    g_sq += (g * g / denom[i]).sum().item<double>();
    s_[i].mul_(beta2_).add_(g, dlr * (1 - beta2_));
    s_sq += (s_[i] * s_[i] / denom[i]).sum().item<double>();
    s_l1 += s_[i].abs().sum().item<double>();
  }
  q_ = beta2_ * q_ + g_sq * dlr * dlr * (1 - beta2_);
  if (s_l1 > 0) {
    const double d_hat = (s_sq / (1 - beta2_) - q_) / s_l1;
    d_ = std::max(d_, std::min(d_hat, d_ * growth_rate_));
  }
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].grad().defined()) continue;
    x[i].addcdiv_(m_[i], denom[i], -1);
  }
  step_size_ = dlr;
  return {};
}

// ---------------------------------------------------------------------------

Prodigy::Prodigy(std::vector<at::Tensor> params, double lr, double beta1, double beta2,
                 double eps, double d0, double growth_rate)
    : ParameterFreeOptimizer(std::move(params), lr),
      beta1_(beta1),
      beta2_(beta2),
      beta3_(std::sqrt(beta2)),
      eps_(eps),
      d0_(d0),
      growth_rate_(growth_rate),
      d_(d0),
      d_max_(d0) {}

at::Tensor Prodigy::step(LossClosure) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor>& x = params();
  if (m_.empty()) {
    x0_ = Clones(x);
    m_ = Zeros(x);
    v_ = Zeros(x);
    s_ = Zeros(x);
  }
  const double dl = d_ * lr();
  double delta_r = 0, s_l1 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].grad().defined()) continue;
    const at::Tensor& g = x[i].grad();
    delta_r += (d_ / d0_) * dl * (g * (x0_[i] - x[i])).sum().item<double>();
    m_[i].mul_(beta1_).add_(g, d_ * (1 - beta1_));
    v_[i].mul_(beta2_).addcmul_(g, g, d_ * d_ * (1 - beta2_));
    s_[i].mul_(beta3_).add_(g, (d_ / d0_) * dl);
    s_l1 += s_[i].abs().sum().item<double>();
  }
  if (s_l1 == 0) return {};  // No gradient information yet.
  r_ = beta3_ * r_ + delta_r;
  const double d_hat = r_ / s_l1;
  if (d_ == d0_) d_ = std::max(d_, d_hat);
  d_max_ = std::max(d_max_, d_hat);
  d_ = std::min(d_max_, d_ * growth_rate_);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!x[i].grad().defined()) continue;
    x[i].addcdiv_(m_[i], v_[i].sqrt().add_(d_ * eps_), -dl);
  }
  step_size_ = dl;
  return {};
}

// ---------------------------------------------------------------------------

PolynomialAverager::PolynomialAverager(std::vector<at::Tensor> params, double gamma)
    : params_(std::move(params)), gamma_(gamma) {
  average_ = Clones(params_);
}

void PolynomialAverager::Update() {
  torch::NoGradGuard no_grad;
  const double w = (1 + gamma_) / (static_cast<double>(t_) + gamma_);
  for (size_t i = 0; i < params_.size(); ++i) {
    average_[i].mul_(1 - w).add_(params_[i].detach(), w);
  }
  ++t_;
}

void PolynomialAverager::Swap() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor tmp = params_[i].detach().clone();
    params_[i].detach().copy_(average_[i]);
    average_[i].copy_(tmp);
  }
}

}  // namespace autolrs::examples
