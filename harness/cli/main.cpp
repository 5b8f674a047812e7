#include "cli/cli.hpp"

#include "util/error.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include <pthread.h>

namespace racehunt {

const std::vector<Command>& commands() {
    static const std::vector<Command> table = {
        {"run", "run a scenario many times under seeded perturbations (the default)",
         "racehunt [run] SCENARIO.toml [--runs N] [-j N] [--seed S] [--timeout DUR]\n"
         "         [--profile none|default|aggressive] [--stop-after K] [--time-budget DUR]\n"
         "         [--shard K/N] [--out DIR] [--json FILE] [--junit FILE] [--python EXE]\n"
         "         [--fail-threshold RATE] [--resume RESULTS.jsonl] [--native-stacks]\n"
         "         [--quiet] [--no-color]",
         cmd_run},
        {"replay", "re-create one run from its run seed, optionally many times",
         "racehunt replay SCENARIO.toml --seed RUNSEED [--repeat N] [--pins FILE] [-j N]\n"
         "         [--out DIR] [--profile P] [--python EXE] [--timeout DUR] [--json FILE]\n"
         "         [--native-stacks] [--quiet]",
         cmd_replay},
        {"minimize", "shrink a failing run to the perturbations that matter",
         "racehunt minimize SCENARIO.toml --seed RUNSEED [--confirm K/N] [--time-budget DUR]\n"
         "         [--final-runs N] [--resume] [-j N] [--out DIR] [--profile P] [--python EXE] [--timeout DUR]\n"
         "         [--quiet]",
         cmd_minimize},
        {"merge", "merge the results of shards into one summary and report",
         "racehunt merge RESULTS.jsonl... [--out DIR] [--json FILE] [--junit FILE]\n"
         "         [--fail-threshold RATE] [--quiet]",
         cmd_merge},
        {"compare", "did the failure rate change between two summaries? (Fisher's exact test)",
         "racehunt compare BEFORE.json AFTER.json [--alpha A]", cmd_compare},
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
    std::printf("racehunt --version | --help\n\n"
                "Exit status: 0 all runs passed; 1 a run failed, hung or crashed; 2 usage or\n"
                "scenario error (nothing was run); 3 racehunt itself failed; 130 interrupted.\n");
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
            std::printf("racehunt %s\n", RACEHUNT_VERSION);
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
