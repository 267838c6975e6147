#include "server/job_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "server/family.h"

namespace autolrs::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Reflection;

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("config.", field, " ", what));
}

const FieldDescriptor* Field(absl::string_view name) {
  const FieldDescriptor* f = v1::JobConfig::descriptor()->FindFieldByName(std::string(name));
  return f;  // Every name below is a JobConfig field (checked by job_config_test).
}

// A numeric or bool field's value as a double, through reflection.
double Get(const v1::JobConfig& c, const FieldDescriptor* f) {
  const Reflection* r = c.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return r->GetDouble(c, f);
    case FieldDescriptor::CPPTYPE_INT32:
      return r->GetInt32(c, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<double>(r->GetInt64(c, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(c, f) ? 1 : 0;
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->GetEnumValue(c, f);
    default:
      return 0;
  }
}

void Set(v1::JobConfig& c, const FieldDescriptor* f, double v) {
  const Reflection* r = c.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return r->SetDouble(&c, f, v);
    case FieldDescriptor::CPPTYPE_INT32:
      return r->SetInt32(&c, f, static_cast<int32_t>(v));
    case FieldDescriptor::CPPTYPE_INT64:
      return r->SetInt64(&c, f, static_cast<int64_t>(v));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->SetBool(&c, f, v != 0);
    case FieldDescriptor::CPPTYPE_ENUM:
      return r->SetEnumValue(&c, f, static_cast<int>(v));
    default:
      return;
  }
}

// Unset: an `optional` field without presence, or a plain proto3 scalar
// holding 0 (documented as "the default").
bool IsSet(const v1::JobConfig& c, const FieldDescriptor* f) {
  return c.GetReflection()->HasField(c, f);
}

bool CooldownFits(const v1::JobConfig& c) {
  return CooldownSteps(c) > 0 && c.warmup_steps() + CooldownSteps(c) < c.total_steps();
}

// ---------------------------------------------------------------------------
// Table 1: defaults. Applied in order to unset fields, so a default may
// depend on fields above it. `reference`: the config's preset is
// PRESET_REFERENCE (the published method: every improvement off).

struct Default {
  const char* field;
  std::function<double(const v1::JobConfig& c, bool reference)> value;
};

double Fixed(double recommended, double reference, bool is_reference) {
  return is_reference ? reference : recommended;
}

const std::vector<Default>& Defaults() {
  static const auto* table = new std::vector<Default>{
      // Stage sizes and the search.
      {"tau_initial", [](auto&, bool) { return 1000; }},
      {"tau_max", [](auto&, bool) { return 8000; }},
      {"probe_ratio", [](auto&, bool) { return 0.1; }},
      {"probes_per_stage", [](auto&, bool) { return 10; }},
      {"min_probe_steps", [](auto&, bool r) { return Fixed(7, 0, r); }},
      {"objective_switch", [](auto&, bool) { return v1::OBJECTIVE_SWITCH_AFTER_TAU_MAX; }},
      {"eval_points_per_probe", [](auto&, bool) { return 16; }},
      {"num_workers", [](auto&, bool) { return 1; }},
      // The preset's algorithm.
      {"forecaster",
       [](auto&, bool r) {
         return Fixed(v1::FORECASTER_LAST_MEAN, v1::FORECASTER_REFERENCE_EXPONENTIAL, r);
       }},
      {"acquisition", [](auto&, bool) { return v1::ACQUISITION_LCB; }},
      {"kappa", [](auto&, bool r) { return Fixed(2.0, 1e6, r); }},
      {"stage_choice", [](auto&, bool) { return v1::STAGE_CHOICE_LOWEST_PREDICTED; }},
      // Improvements over the reference (PRESET_REFERENCE: off).
      {"divergence_factor", [](auto&, bool r) { return Fixed(2, 0, r); }},
      {"remember_divergence", [](auto&, bool r) { return Fixed(1, 0, r); }},
      {"warm_start", [](auto&, bool r) { return Fixed(1, 0, r); }},
      {"min_probes_per_stage", [](auto& c, bool) { return c.probes_per_stage(); }},
      {"reuse_best_probe", [](auto&, bool) { return 0; }},
      {"min_probe_separation",
       [](auto& c, bool r) { return Fixed(0.25 / std::max(1, c.probes_per_stage()), 1e-4, r); }},
      {"later_stage_probes",
       [](auto& c, bool r) {
         return Fixed(std::min(4, c.probes_per_stage()), c.probes_per_stage(), r);
       }},
      // Off: with both on, a guard roll-back on CNN + SGD (dev) lowered
      // the LR 10x for the rest of the run (server/README.md).
      {"later_stage_min_probe_steps", [](auto&, bool) { return 0; }},
      {"search_needs_whole_stage", [](auto&, bool) { return 0; }},
      {"search_radius", [](auto&, bool r) { return Fixed(0.3, 0, r); }},
      {"choice_tolerance", [](auto&, bool r) { return Fixed(0.05, 0, r); }},
      {"first_stage_choice_tolerance", [](auto&, bool r) { return Fixed(0.1, 0, r); }},
      // Off: on MLP + SGD (dev) the lower first-stage LRs cost 0.006-0.009
      // in every run (server/README.md).
      {"first_stage_interpolation", [](auto&, bool) { return 0; }},
      // On: no dev run at k = 10 changed; with 8 probes it kept the
      // Transformer dev task off its LR cliff (server/README.md).
      {"first_stage_clamp_to_limit", [](auto&, bool r) { return Fixed(1, 0, r); }},
      {"tolerance_never_raises", [](auto&, bool r) { return Fixed(1, 0, r); }},
      // The preset's cooldown, when the budget is known and leaves room for it.
      {"cooldown_fraction",
       [](auto& c, bool r) {
         if (r || c.total_steps() == 0) return 0.0;
         // Half the budget (at most one action's steps); 20% where a warmup
         // leaves no room for that.
         const double most =
             static_cast<double>(kMaxActionSteps) / static_cast<double>(c.total_steps());
         for (const double fraction : {std::min(0.5, most), std::min(0.2, most)}) {
           v1::JobConfig with = c;
           with.set_cooldown_fraction(fraction);
           if (CooldownFits(with)) return fraction;
         }
         return 0.0;
       }},
      {"early_stop_gain", [](auto&, bool) { return 0.01; }},
      {"widen_at_edge", [](auto&, bool) { return 0; }},
      {"hold_margin", [](auto&, bool) { return 0; }},
      // A later stage's raise must forecast 2% below the previous LR's.
      {"raise_margin", [](auto&, bool r) { return Fixed(0.02, 0, r); }},
      {"exploit_guard", [](auto&, bool r) { return Fixed(0.25, 0, r); }},
      // Needs validation losses, which OBJECTIVE_SWITCH_NEVER promises
      // never to ask for.
      {"overfit_guard",
       [](auto& c, bool r) {
         return c.objective_switch() == v1::OBJECTIVE_SWITCH_NEVER ? 0.0 : Fixed(0.01, 0, r);
       }},
      // Off: on the dev tasks it never changed stage 0's choice and cost
      // probe steps (server/README.md); it is the opt-in guard for LR cliffs.
      {"first_stage_confirmation", [](auto&, bool) { return 0; }},
      // Families (only used with JobConfig.family).
      {"use_family_prior", [](auto&, bool) { return 1; }},
      {"family_probes", [](auto& c, bool) { return std::min(2, c.probes_per_stage()); }},
      {"family_window", [](auto&, bool) { return 0.15; }},
      {"family_agreement", [](auto&, bool) { return 0.15; }},
      {"family_tolerance", [](auto&, bool) { return 0.1; }},
      // Operations.
      {"rank_timeout_seconds", [](auto&, bool) { return 600; }},
  };
  return *table;
}

// ---------------------------------------------------------------------------
// Table 2: ranges. Every resolved value must lie in [lo, hi] (lo excluded
// when lo_open), or equal `off` where the field has an "off" value. Bounds
// may depend on other fields. Checked in order; the first violation is the
// error.

struct Bounds {
  double lo;
  double hi;
  bool lo_open = false;
  std::optional<double> off;
};

struct RangeRule {
  const char* field;
  std::function<Bounds(const v1::JobConfig& c)> bounds;
  const char* note = "";  // appended to the message, e.g. what a bound is
};

constexpr double kHuge = 1e300;  // "no upper bound"

const std::vector<RangeRule>& Ranges() {
  static const auto* table = new std::vector<RangeRule>{
      {"lr_min",
       [](auto&) {
         return Bounds{0, kHuge, true};
       }},
      {"lr_max",
       [](auto& c) {
         return Bounds{c.lr_min(), kHuge, true};
       },
       " (lo: lr_min)"},
      {"tau_initial",
       [](auto&) {
         return Bounds{kMinTau, kMaxActionSteps};
       }},
      {"tau_max",
       [](auto& c) {
         return Bounds{double(c.tau_initial()), kMaxActionSteps};
       },
       " (lo: tau_initial; an unset tau_max is 8000 and does not follow a larger "
       "tau_initial: set it)"},
      {"probe_ratio",
       [](auto&) {
         return Bounds{0, 1, true};
       }},
      {"probes_per_stage",
       [](auto&) {
         return Bounds{kMinProbes, kMaxProbes};
       }},
      {"min_probe_steps",
       [](auto&) {
         return Bounds{0, kMaxActionSteps};
       }},
      {"eval_points_per_probe",
       [](auto&) {
         return Bounds{1, kMaxEvalPoints};
       }},
      {"warmup_steps",
       [](auto&) {
         return Bounds{0, kMaxActionSteps};
       }},
      {"total_steps",
       [](auto&) {
         return Bounds{0, 9.2e18};
       },
       " (0 = unbounded)"},
      {"num_workers",
       [](auto&) {
         return Bounds{1, kMaxWorkers};
       }},
      {"kappa",
       [](auto&) {
         return Bounds{0, kHuge, true};
       }},
      {"divergence_factor",
       [](auto&) {
         return Bounds{1, 1000, true, 0.0};
       }},
      {"min_probes_per_stage",
       [](auto& c) {
         return Bounds{kMinProbes, double(c.probes_per_stage())};
       },
       " (hi: probes_per_stage)"},
      {"early_stop_gain",
       [](auto&) {
         return Bounds{0, 1};
       }},
      {"min_probe_separation",
       [](auto&) {
         return Bounds{1e-4, 0.25};
       }},
      {"later_stage_probes",
       [](auto& c) {
         return Bounds{kMinProbes, double(c.probes_per_stage()), false, 0.0};
       },
       " (hi: probes_per_stage)"},
      {"later_stage_min_probe_steps",
       [](auto&) {
         return Bounds{0, kMaxActionSteps};
       }},
      {"search_radius",
       [](auto&) {
         return Bounds{0.05, 10, false, 0.0};
       },
       " decades"},
      {"choice_tolerance",
       [](auto&) {
         return Bounds{0, 1};
       }},
      {"first_stage_choice_tolerance",
       [](auto&) {
         return Bounds{0, 1};
       }},
      {"hold_margin",
       [](auto&) {
         return Bounds{0, 1};
       }},
      {"raise_margin",
       [](auto&) {
         return Bounds{0, 1};
       }},
      {"exploit_guard",
       [](auto&) {
         return Bounds{0.01, 10, false, 0.0};
       }},
      {"first_stage_confirmation",
       [](auto&) {
         return Bounds{1, 100, false, 0.0};
       }},
      {"overfit_guard",
       [](auto&) {
         return Bounds{0.001, 1, false, 0.0};
       }},
      {"cooldown_fraction",
       [](auto&) {
         return Bounds{0, 0.5};
       }},
      {"family_probes",
       [](auto& c) {
         return Bounds{1, double(c.probes_per_stage())};
       },
       " (hi: probes_per_stage)"},
      {"family_window",
       [](auto&) {
         return Bounds{0.01, 3};
       },
       " decades"},
      {"family_agreement",
       [](auto&) {
         return Bounds{0, 3};
       },
       " decades"},
      {"family_tolerance",
       [](auto&) {
         return Bounds{0, 10};
       }},
      {"rank_timeout_seconds",
       [](auto&) {
         return Bounds{1, 604800, false, 0.0};
       }},
  };
  return *table;
}

// Enum fields: the value must be one the proto declares.
constexpr const char* kEnumFields[] = {"objective_switch", "preset", "forecaster", "acquisition",
                                       "stage_choice"};

absl::Status CheckRange(const v1::JobConfig& c, const RangeRule& rule) {
  const FieldDescriptor* f = Field(rule.field);
  const double v = Get(c, f);
  const Bounds b = rule.bounds(c);
  if (b.off.has_value() && v == *b.off) return absl::OkStatus();
  const bool above_lo = b.lo_open ? v > b.lo : v >= b.lo;
  if (std::isfinite(v) && above_lo && v <= b.hi) return absl::OkStatus();
  std::string allowed = absl::StrCat(b.lo_open ? "(" : "[", b.lo, ", ", b.hi, "]");
  if (b.hi >= kHuge) allowed = absl::StrCat("finite and ", b.lo_open ? "> " : ">= ", b.lo);
  if (b.off.has_value()) allowed = absl::StrCat(*b.off, " (off) or in ", allowed);
  return Invalid(rule.field, absl::StrCat("must be ", allowed, rule.note, ", got ", v));
}

// ---------------------------------------------------------------------------
// Cross-field rules: what one field's range cannot say.

absl::Status CheckCrossFields(const v1::JobConfig& c) {
  if (std::log10(c.lr_max() / c.lr_min()) < kMinLrSpanDecades) {
    return Invalid("lr_max",
                   absl::StrCat("must be at least ", kMinLrSpanDecades, " decades above lr_min (",
                                c.lr_min(), "), got ", c.lr_max()));
  }
  if (c.warmup_steps() > 0 && (!std::isfinite(c.warmup_lr()) || c.warmup_lr() <= 0)) {
    return Invalid("warmup_lr", absl::StrCat("must be finite and > 0 when warmup_steps > 0, "
                                             "got ",
                                             c.warmup_lr()));
  }
  if (c.warmup_steps() == 0 && c.warmup_lr() != 0) {
    return Invalid("warmup_lr", "is set but warmup_steps is 0");
  }
  if (c.total_steps() > 0 && c.total_steps() <= c.warmup_steps()) {
    return Invalid("total_steps", absl::StrCat("must exceed warmup_steps (", c.warmup_steps(),
                                               "), got ", c.total_steps()));
  }
  if (!c.family().empty()) {
    if (absl::Status s = ValidateName(c.family(), "config.family"); !s.ok()) return s;
    if (c.total_steps() == 0) {
      return Invalid("family", "needs total_steps (a family's runs are compared by progress, "
                               "steps spent / total_steps)");
    }
  }
  if (c.overfit_guard() > 0 && c.objective_switch() == v1::OBJECTIVE_SWITCH_NEVER) {
    return Invalid("overfit_guard", "needs validation losses, but objective_switch is "
                                    "OBJECTIVE_SWITCH_NEVER (no evaluation is ever requested)");
  }
  if (c.cooldown_fraction() > 0) {
    if (c.total_steps() == 0) {
      return Invalid("cooldown_fraction", "needs total_steps (the cooldown ends the budget)");
    }
    if (!CooldownFits(c)) {
      return Invalid("cooldown_fraction", absl::StrCat("gives a cooldown of ", CooldownSteps(c),
                                                       " of total_steps (", c.total_steps(),
                                                       "): it must be >= 1 step and leave steps "
                                                       "for stages after warmup_steps (",
                                                       c.warmup_steps(), ")"));
    }
    if (CooldownSteps(c) > kMaxActionSteps) {
      return Invalid(
          "cooldown_fraction",
          absl::StrCat("gives a cooldown of ", CooldownSteps(c), " steps, one action: at most ",
                       kMaxActionSteps, " steps fit in one report"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t CooldownSteps(const v1::JobConfig& config) {
  return std::llround(config.cooldown_fraction() * static_cast<double>(config.total_steps()));
}

std::vector<std::string> ResolvedFieldNames() {
  std::vector<std::string> names;
  for (const Default& d : Defaults()) names.push_back(d.field);
  for (const RangeRule& r : Ranges()) names.push_back(r.field);
  for (const char* e : kEnumFields) names.push_back(e);
  return names;
}

absl::StatusOr<v1::JobConfig> ResolveJobConfig(const v1::JobConfig& config) {
  v1::JobConfig c = config;
  for (const char* name : kEnumFields) {
    const FieldDescriptor* f = Field(name);
    const int v = c.GetReflection()->GetEnumValue(c, f);
    if (f->enum_type()->FindValueByNumber(v) == nullptr) {
      return Invalid(name, absl::StrCat("unknown value ", v));
    }
  }
  if (c.preset() == v1::PRESET_UNSPECIFIED) c.set_preset(v1::PRESET_RECOMMENDED);
  const bool reference = c.preset() == v1::PRESET_REFERENCE;
  for (const Default& d : Defaults()) {
    const FieldDescriptor* f = Field(d.field);
    if (!IsSet(c, f)) Set(c, f, d.value(c, reference));
  }
  for (const RangeRule& rule : Ranges()) {
    if (absl::Status s = CheckRange(c, rule); !s.ok()) return s;
  }
  if (absl::Status s = CheckCrossFields(c); !s.ok()) return s;
  return c;
}

}  // namespace autolrs::server
