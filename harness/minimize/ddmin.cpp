#include "minimize/ddmin.hpp"

#include <algorithm>
#include <iterator>

namespace racehunt {

Subset without(const Subset& a, const Subset& b) {
    Subset out;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
    return out;
}

Shrinker::Shrinker(std::function<bool(const Subset&)> test, std::function<bool()> out_of_time)
    : test_(std::move(test)), out_of_time_(std::move(out_of_time)) {}

bool Shrinker::reproduces(const Subset& s) {
    if (auto it = cache_.find(s); it != cache_.end())
        return it->second;
    if (timed_out_ || (out_of_time_ && out_of_time_())) {
        timed_out_ = true;
        return false; // not known: never taken as evidence
    }
    ++tests_;
    bool r = test_(s);
    cache_[s] = r;
    return r;
}

Subset Shrinker::drop_groups(Subset current, std::vector<Subset> groups) {
    std::stable_sort(groups.begin(), groups.end(),
                     [](const Subset& a, const Subset& b) { return a.size() > b.size(); });
    for (const auto& g : groups) {
        if (timed_out_)
            break;
        Subset rest = without(current, g);
        if (rest.size() == current.size())
            continue; // nothing of this group is left
        if (reproduces(rest))
            current = std::move(rest);
    }
    return current;
}

ShrinkResult Shrinker::ddmin(Subset current) {
    std::size_t n = 2;
    while (current.size() >= 2 && !timed_out_) {
        // n chunks of (nearly) equal size, in order.
        std::vector<Subset> chunks;
        const std::size_t size = current.size();
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t lo = i * size / n, hi = (i + 1) * size / n;
            if (hi > lo)
                chunks.emplace_back(current.begin() + static_cast<std::ptrdiff_t>(lo),
                                    current.begin() + static_cast<std::ptrdiff_t>(hi));
        }
        bool reduced = false;
        for (const auto& chunk : chunks) { // reduce to a chunk
            if (reproduces(chunk)) {
                current = chunk;
                n = 2;
                reduced = true;
                break;
            }
        }
        if (!reduced && chunks.size() > 2) {
            for (const auto& chunk : chunks) { // reduce to a complement
                Subset rest = without(current, chunk);
                if (reproduces(rest)) {
                    current = std::move(rest);
                    n = std::max<std::size_t>(n - 1, 2);
                    reduced = true;
                    break;
                }
            }
        }
        if (reduced)
            continue;
        if (n >= current.size())
            break; // single items tried: 1-minimal
        n = std::min(n * 2, current.size());
    }
    // With two chunks, "reduce to a complement" is "reduce to the other chunk", already
    // tried; a set of one item is minimal unless the empty set reproduces, which the
    // caller checks first.
    ShrinkResult r;
    r.items = current;
    r.complete = !timed_out_;
    r.tests = tests_;
    return r;
}

} // namespace racehunt
