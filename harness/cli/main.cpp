#include "cli/cli.hpp"

#include "campaign/campaign.hpp"
#include "cli/options.hpp"
#include "util/error.hpp"

#include "racehunt_commit.h"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include <pthread.h>

namespace racehunt {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"run", "run a scenario many times under seeded perturbations (the default)",
         "racehunt [run] SCENARIO.toml|DIR... [--runs N] [-j N] [--seed S] [--timeout DUR]\n"
         "         [--profile none|default|aggressive] [--start fresh|fork-server]\n"
         "         [--stop-after K] [--time-budget DUR] [--shard K/N] [--out DIR] [--json FILE]\n"
         "         [--junit FILE] [--python EXE] [--fail-threshold RATE] [--resume RESULTS.jsonl]\n"
         "         [--native-stacks] [--no-config-check] [--quiet] [--no-color]",
         cmd_run, [] { return format_options(run_options(CommandKind::Run)); }},
        {"replay", "re-create one run from its run seed, optionally many times",
         "racehunt replay SCENARIO.toml --seed RUNSEED [--repeat N] [--pins FILE] [-j N]\n"
         "         [--out DIR] [--profile P] [--start fresh|fork-server] [--python EXE]\n"
         "         [--timeout DUR] [--json FILE] [--native-stacks] [--no-config-check] [--quiet]\n"
         "         [--no-color]",
         cmd_replay, [] { return format_options(run_options(CommandKind::Replay)); }},
        {"minimize", "shrink a failing run to the perturbations that matter",
         "racehunt minimize SCENARIO.toml --seed RUNSEED [--confirm K/N] [--time-budget DUR]\n"
         "         [--final-runs N] [--resume] [-j N] [--out DIR] [--profile P]\n"
         "         [--start fresh|fork-server] [--python EXE] [--timeout DUR] [--json FILE]\n"
         "         [--native-stacks] [--no-config-check] [--quiet] [--no-color]",
         cmd_minimize, [] { return format_options(run_options(CommandKind::Minimize)); }},
        {"merge", "merge the results of shards into one summary and report",
         "racehunt merge RESULTS.jsonl... [--out DIR] [--json FILE] [--junit FILE]\n"
         "         [--fail-threshold RATE] [--quiet] [--no-color]",
         cmd_merge, [] { return format_options(merge_options()); }},
        {"compare", "did the failure rate change between two summaries? (Fisher's exact test)",
         "racehunt compare BEFORE.json AFTER.json [--alpha A]", cmd_compare,
         [] { return format_options(compare_options()); }},
    };
    return table;
}

namespace {

void print_help() {
    std::printf("racehunt %s: makes Python race conditions fail on demand\n\n", RACEHUNT_VERSION);
    std::printf("Runs a Python workload many times, each run a fresh process tree under its own\n"
                "seed, perturbing thread scheduling; checks state; buckets failures; prints the\n"
                "command that replays a failing run.\n\nCommands:\n");
    for (const auto& c : commands())
        std::printf("  %-9s %s\n", c.name, c.summary);
    std::printf("\nUsage:\n");
    for (const auto& c : commands())
        std::printf("%s\n", c.usage);
    std::printf("racehunt COMMAND --help | -h\n"
                "racehunt --version | --help\n\n"
                "Exit status: 0 all runs passed; 1 a run failed, hung or crashed; 2 usage or\n"
                "scenario error (nothing was run), or a configuration error the first runs showed\n"
                "(the campaign stopped early); 3 racehunt itself failed; 130 interrupted.\n");
}

void print_command_help(const Command& c) {
    std::printf("racehunt %s: %s\n\nUsage:\n%s\n\n%s", c.name, c.summary, c.usage, c.options().c_str());
}

bool asks_for_help(const std::vector<std::string>& args) {
    for (const auto& a : args)
        if (a == "--help" || a == "-h")
            return true;
    return false;
}

} // namespace

int main(int argc, char** argv) {
    // Signals: Ctrl-C and SIGTERM are taken by one thread with sigwait, so no handler runs in
    // the middle of a fork or a write; every later thread inherits the blocked mask.
    // Children get a clean mask back between fork and exec.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    static Session session;
    std::thread([set] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0)
                continue;
            session.interrupted.store(true);
            session.cancel.cancel();
        }
    }).detach();

    std::vector<std::string> args(argv + 1, argv + argc);
    set_invocation(argc > 0 ? argv[0] : "racehunt");
    try {
        if (args.empty()) {
            print_help();
            return static_cast<int>(ExitCode::Usage);
        }
        if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
            print_help();
            return 0;
        }
        if (args[0] == "--version" || args[0] == "-V") {
            std::printf("racehunt %s (commit %s)\n", RACEHUNT_VERSION, RACEHUNT_COMMIT);
            return 0;
        }
        const Command* chosen = &commands()[0]; // `run` is the default subcommand
        for (const auto& c : commands()) {
            if (args[0] == c.name) {
                chosen = &c;
                args.erase(args.begin());
                break;
            }
        }
        if (asks_for_help(args)) {
            print_command_help(*chosen);
            return 0;
        }
        return static_cast<int>(chosen->execute(args, session));
    } catch (const util::Error& e) {
        std::fprintf(stderr, "racehunt: error: %s\n", e.what());
        return static_cast<int>(e.kind() == util::ErrorKind::Usage ? ExitCode::Usage
                                                                   : ExitCode::Internal);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "racehunt: internal error: %s\n", e.what());
        return static_cast<int>(ExitCode::Internal);
    }
}

} // namespace racehunt
