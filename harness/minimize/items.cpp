#include "minimize/items.hpp"

#include "plan/seeds.hpp"
#include "util/strings.hpp"

#include <map>
#include <sstream>
#include <tuple>

namespace racehunt {

std::vector<Item> items_of(const Pins& all) {
    std::vector<Item> items;
    if (all.switch_interval)
        items.push_back({Item::Switch, 0});
    for (std::size_t i = 0; i < all.shim.size(); ++i)
        items.push_back({Item::Shim, i});
    for (std::size_t i = 0; i < all.yields.size(); ++i)
        items.push_back({Item::Yield, i});
    for (std::size_t i = 0; i < all.loop.size(); ++i)
        items.push_back({Item::Loop, i});
    return items;
}

Pins subset_pins(const Pins& all, const std::vector<Item>& items, const Subset& s) {
    Pins p;
    for (std::size_t i : s) {
        const Item& it = items[i];
        if (it.kind == Item::Switch)
            p.switch_interval = all.switch_interval;
        else if (it.kind == Item::Shim)
            p.shim.push_back(all.shim[it.index]);
        else if (it.kind == Item::Yield)
            p.yields.push_back(all.yields[it.index]);
        else
            p.loop.push_back(all.loop[it.index]);
    }
    return p;
}

std::vector<Subset> layer_groups(const std::vector<Item>& items) {
    std::vector<Subset> layers(4);
    for (std::size_t i = 0; i < items.size(); ++i)
        layers[items[i].kind].push_back(i);
    return layers;
}

std::vector<Subset> thread_groups(const Pins& all, const std::vector<Item>& items, const Subset& current) {
    // Keyed by layer too: a shim thread number and a Python thread number are unrelated.
    std::map<std::tuple<int, std::uint64_t, std::uint32_t>, Subset> by_thread;
    for (std::size_t i : current) {
        const Item& it = items[i];
        if (it.kind == Item::Shim)
            by_thread[{1, all.shim[it.index].key, all.shim[it.index].thread}].push_back(i);
        else if (it.kind == Item::Yield)
            by_thread[{2, all.yields[it.index].key, all.yields[it.index].thread}].push_back(i);
        else if (it.kind == Item::Loop)
            by_thread[{3, all.loop[it.index].key, all.loop[it.index].loop}].push_back(i);
    }
    std::vector<Subset> groups;
    for (auto& [key, g] : by_thread)
        if (g.size() < current.size())
            groups.push_back(g);
    return groups;
}

std::string count_layers(const Pins& p) {
    std::ostringstream o;
    o << p.size() << " perturbation(s)";
    std::vector<std::string> parts;
    if (p.switch_interval)
        parts.push_back("switch interval");
    if (!p.shim.empty())
        parts.push_back(std::to_string(p.shim.size()) + " shim");
    if (!p.yields.empty())
        parts.push_back(std::to_string(p.yields.size()) + " yield");
    if (!p.loop.empty())
        parts.push_back(std::to_string(p.loop.size()) + " asyncio");
    if (!parts.empty()) {
        o << " (";
        for (std::size_t i = 0; i < parts.size(); ++i)
            o << (i ? ", " : "") << parts[i];
        o << ")";
    }
    return o.str();
}

std::string candidate_key(const Subset& sub) {
    std::string bytes;
    bytes.reserve(8 * sub.size());
    for (std::size_t i : sub)
        for (int b = 0; b < 8; ++b)
            bytes.push_back(static_cast<char>((static_cast<std::uint64_t>(i) >> (8 * b)) & 0xff));
    return std::to_string(sub.size()) + ":" + util::hex64(label_hash(bytes));
}

} // namespace racehunt
