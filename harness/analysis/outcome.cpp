#include "analysis/outcome.hpp"


namespace racehunt {

const char* to_string(Outcome o) {
    switch (o) {
    case Outcome::Pass:
        return "pass";
    case Outcome::Fail:
        return "fail";
    case Outcome::Hang:
        return "hang";
    case Outcome::Crash:
        return "crash";
    case Outcome::Slow:
        return "slow";
    case Outcome::Error:
        return "error";
    }
    return "?";
}

std::optional<Outcome> outcome_from_string(const std::string& s) {
    for (Outcome o : kOutcomes)
        if (s == to_string(o))
            return o;
    return std::nullopt;
}

} // namespace racehunt
