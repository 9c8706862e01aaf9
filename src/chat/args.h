// Binding call arguments to a native function's parameters the way Python binds them to a
// signature: positional first, then keywords by name; too many, unknown or repeated
// arguments are errors naming the function.
#pragma once

#include "chat/interp.h"

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::jinja {

class bound_args {
  public:
    bound_args(interpreter & in, const call_args & a, std::string_view fn,
               std::initializer_list<std::string_view> params)
        : in_(in), at_(a.at), fn_(fn), params_(params), vals_(params.size()) {
        if (a.pos.size() > params_.size()) {
            in.error(a.at, fmt::format("{}() takes at most {} argument(s), got {}", fn, params_.size(), a.pos.size()));
        }
        for (size_t k = 0; k < a.pos.size(); ++k) {
            vals_[k] = a.pos[k];
        }
        for (const auto & [key, v] : a.kw) {
            size_t k = 0;
            while (k < params_.size() && params_[k] != key) {
                ++k;
            }
            if (k == params_.size()) {
                in.error(a.at, fmt::format("{}() got an unexpected keyword argument '{}'", fn, key));
            }
            if (vals_[k]) {
                in.error(a.at, fmt::format("{}() got multiple values for argument '{}'", fn, key));
            }
            vals_[k] = v;
        }
    }

    bool          has(size_t k) const { return vals_[k].has_value(); }
    const value * get(size_t k) const { return vals_[k] ? &*vals_[k] : nullptr; }
    value         get_or(size_t k, value dflt) const { return vals_[k] ? *vals_[k] : std::move(dflt); }

    value required(size_t k) const {  // by value: callers often bind it from a temporary binder
        if (!vals_[k]) {
            in_.error(at_, fmt::format("{}() missing required argument '{}'", fn_, params_[k]));
        }
        return *vals_[k];
    }
    int64_t int_or(size_t k, int64_t dflt) const {
        if (!vals_[k] || vals_[k]->is_none()) {
            return dflt;
        }
        if (!vals_[k]->is_int_like()) {
            in_.error(at_, fmt::format("{}(): argument '{}' must be an integer, not {}", fn_, params_[k],
                                       type_name(*vals_[k])));
        }
        return vals_[k]->as_int();
    }
    bool                       bool_or(size_t k, bool dflt) const { return vals_[k] ? truthy(*vals_[k]) : dflt; }
    std::optional<std::string> str_opt(size_t k) const {
        if (!vals_[k] || vals_[k]->is_none()) {
            return std::nullopt;
        }
        if (!vals_[k]->is_string()) {
            in_.error(at_, fmt::format("{}(): argument '{}' must be a string, not {}", fn_, params_[k],
                                       type_name(*vals_[k])));
        }
        return vals_[k]->s;
    }
    std::string str_or(size_t k, std::string dflt) const { return str_opt(k).value_or(std::move(dflt)); }

  private:
    interpreter &                     in_;
    size_t                            at_;
    std::string_view                  fn_;
    std::vector<std::string_view>     params_;
    std::vector<std::optional<value>> vals_;
};

}  // namespace sluice::jinja
