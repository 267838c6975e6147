#include "forecast/synthetic_curves.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"

namespace autolrs {
namespace forecast {
namespace {

constexpr double kFloat32Max = 3.4e38;

struct Nqm {
  std::vector<double> h;
  std::vector<double> noise_sd;  // sqrt(grad_noise * h_i)
  double floor_loss = 0;

  double Loss(const std::vector<double>& x) const {
    double l = 0;
    for (size_t i = 0; i < x.size(); ++i) l += 0.5 * h[i] * x[i] * x[i];
    return floor_loss + l;
  }
  void Step(std::vector<double>& x, double lr, std::mt19937_64& rng) const {
    std::normal_distribution<double> normal;
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] -= lr * (h[i] * x[i] + noise_sd[i] * normal(rng));
    }
  }
};

}  // namespace

std::vector<Curve> SimulateNqmSweep(const NqmOptions& options) {
  Nqm nqm;
  nqm.floor_loss = options.floor_loss;
  for (int i = 1; i <= options.dims; ++i) {
    const double h = options.h_max * std::pow(i, -options.h_exponent);
    nqm.h.push_back(h);
    nqm.noise_sd.push_back(std::sqrt(options.grad_noise * h));
  }
  std::vector<Curve> curves;
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal;
  std::vector<double> x(options.dims);
  for (double& v : x) v = options.init_scale * normal(rng);
  int trained = 0;
  for (int ckpt_index = 0; ckpt_index < static_cast<int>(options.checkpoint_steps.size());
       ++ckpt_index) {
    const int steps = options.checkpoint_steps[ckpt_index];
    for (; trained < steps; ++trained) nqm.Step(x, options.checkpoint_lr, rng);
    for (size_t k = 0; k < options.lrs.size(); ++k) {
      std::mt19937_64 probe_rng(options.seed * 1000003 + ckpt_index * 1009 + k);
      std::normal_distribution<double> obs;
      std::vector<double> z = x;
      Curve c;
      c.checkpoint = absl::StrCat("ckpt", steps);
      c.lr = options.lrs[k];
      for (int s = 0; s < options.tau; ++s) {
        nqm.Step(z, c.lr, probe_rng);
        double loss = nqm.Loss(z) * std::exp(options.obs_noise * obs(probe_rng) -
                                             0.5 * options.obs_noise * options.obs_noise);
        // Like a float32 loss: beyond its range it is inf (or nan).
        if (!(loss < kFloat32Max)) loss = std::numeric_limits<double>::infinity();
        c.loss.push_back(loss);
      }
      curves.push_back(std::move(c));
    }
  }
  return curves;
}

}  // namespace forecast
}  // namespace autolrs
